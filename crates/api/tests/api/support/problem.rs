//! The one assertion on RFC 9457 problem documents.
use gatehouse_types::Problem;
use reqwest::Response;

pub async fn problem(r: impl Into<Response>) -> Problem {
    let r: Response = r.into();
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "problem content type"
    );
    r.json().await.unwrap()
}

/// Asserts status and problem code.
pub async fn assert_problem(r: impl Into<Response>, status: u16, code: &str) -> Problem {
    let r: Response = r.into();
    let got = r.status().as_u16();
    let p = problem(r).await;
    assert_eq!((got, p.code.as_str()), (status, code), "{p:?}");
    assert_eq!(p.type_, format!("https://gatehouse.dev/problems/{code}"));
    p
}

/// The field names of a validation problem, in the order given.
pub fn fields(p: &Problem) -> Vec<&str> {
    p.errors.iter().map(|e| e.field.as_str()).collect()
}
