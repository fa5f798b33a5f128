//! Signed-out pages: sign in, sign up, not found.
use crate::api;
use crate::api::{ApiError, two_factor::LoginOutcome};
use crate::components::{ErrorBox, action_error, input_value};
use gatehouse_types::{
    LoginRequest, MfaChallenge, MfaCodeMethod, MfaPasskeyRequest, MfaVerifyRequest,
    PasswordResetConfirm, PasswordResetRequest, SignupRequest, User,
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Where to go after signing in: `next` when it is a path on this site, else `/orgs`.
/// `//host` and `/\host` are other sites to a browser, so they are refused.
fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/orgs".into(),
    }
}

#[component]
pub fn AuthCard(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <div class="auth">
            <div class="card auth-card">
                <p class="brand">"Gatehouse"</p>
                <h1>{title}</h1>
                {children()}
            </div>
        </div>
    }
}

#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    let next = move || safe_next(query.read_untracked().get("next"));
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    // Set by a 202 answer: the password was right, a second factor is still to come.
    let challenge = RwSignal::new(None::<MfaChallenge>);
    let expired = RwSignal::new(false);
    let login = api::action(api::two_factor::login);
    let go_on = move || {
        // A full page load: `next` may be a server page such as /authorize.
        let _ = window().location().set_href(&next());
    };
    Effect::new(move |_| match login.value().get() {
        Some(Ok(LoginOutcome::SignedIn)) => go_on(),
        Some(Ok(LoginOutcome::SecondStep(c))) => {
            expired.set(false);
            challenge.set(Some(c));
        }
        _ => {}
    });
    let signup_href = move || match query.read().get("next") {
        Some(n) => format!(
            "/signup?next={}",
            String::from(js_sys::encode_uri_component(&n))
        ),
        None => "/signup".into(),
    };
    let password_step = move || {
        view! {
            <form on:submit=move |ev| {
                ev.prevent_default();
                login.dispatch(LoginRequest { email: email.get_untracked(), password: password.get_untracked() });
            }>
                {move || expired.get().then(|| view! {
                    <div class="error" role="alert"><strong>"That sign-in expired. Enter your password again."</strong></div>
                })}
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required
                    prop:value=move || email.get() on:input=move |ev| email.set(input_value(&ev))/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
                {move || match login.value().get() {
                    Some(Err(e)) => Some(view! { <ErrorBox err=e/> }),
                    _ => None,
                }}
                <button type="submit" class="primary" disabled=move || login.pending().get()>"Sign in"</button>
            </form>
            <p class="muted"><a href="/forgot-password">"Forgot your password?"</a></p>
            <p class="muted">"No account yet? "<a href=signup_href>"Create one"</a></p>
        }
        .into_any()
    };
    view! {
        <AuthCard title="Sign in">
            {move || match challenge.get() {
                None => password_step(),
                Some(c) => view! {
                    <SecondStep challenge=c
                        on_done=move || go_on()
                        on_expired=move || {
                            password.set(String::new());
                            login.value().set(None);
                            challenge.set(None);
                            expired.set(true);
                        }/>
                }.into_any(),
            }}
        </AuthCard>
    }
}

/// The login's second step with a passkey: the server's options for this login, the
/// browser's ceremony, the server again.
async fn passkey_step(pending_token: String) -> Result<User, ApiError> {
    let options = api::passkeys::login_options(pending_token.clone()).await?;
    let credential = crate::webauthn::ceremony(false, &options.public_key).await?;
    api::passkeys::login(&MfaPasskeyRequest {
        pending_token,
        credential,
    })
    .await
}

/// The login's second step: a code from the authenticator app, a backup code, or a
/// passkey — whichever the account has.
#[component]
fn SecondStep(
    challenge: MfaChallenge,
    on_done: impl Fn() + Clone + Send + Sync + 'static,
    on_expired: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let has = |m: &str| challenge.methods.iter().any(|x| x == m);
    let codes = has("totp") || has("backup_code");
    let first = if has("totp") {
        MfaCodeMethod::Totp
    } else {
        MfaCodeMethod::BackupCode
    };
    let can_switch = has("totp") && has("backup_code");
    let method = RwSignal::new(first);
    let code = RwSignal::new(String::new());
    let verify = api::action(api::two_factor::verify);
    let passkey = Action::new_local(|t: &String| passkey_step(t.clone()));
    let (done, expired) = (on_done.clone(), on_expired.clone());
    Effect::new(move |_| match verify.value().get() {
        Some(Ok(_)) => done(),
        Some(Err(e)) if e.code == "mfa-pending-invalid" => expired(),
        _ => {}
    });
    Effect::new(move |_| match passkey.value().get() {
        Some(Ok(_)) => on_done(),
        Some(Err(e)) if e.code == "mfa-pending-invalid" => on_expired(),
        _ => {}
    });
    let token = challenge.pending_token.clone();
    let token2 = token.clone();
    view! {
        {has("passkey").then(|| view! {
            <button type="button" class=if codes { "" } else { "primary" } disabled=move || passkey.pending().get()
                on:click=move |_| { passkey.dispatch(token2.clone()); }>"Use a passkey"</button>
            {move || match passkey.value().get() {
                Some(Err(e)) => Some(view! { <ErrorBox err=e/> }),
                _ => None,
            }}
        })}
        {codes.then(|| view! {
        <form on:submit=move |ev| {
            ev.prevent_default();
            verify.dispatch(MfaVerifyRequest {
                pending_token: token.clone(),
                method: method.get_untracked(),
                code: code.get_untracked().trim().to_string(),
            });
        }>
            {move || if method.get() == MfaCodeMethod::Totp {
                view! {
                    <label for="mfa-code">"Authentication code"</label>
                    <p class="muted help" id="mfa-code-help">"The 6-digit code from your authenticator app."</p>
                }.into_any()
            } else {
                view! {
                    <label for="mfa-code">"Backup code"</label>
                    <p class="muted help" id="mfa-code-help">"One of the backup codes you saved; each works once."</p>
                }.into_any()
            }}
            <input id="mfa-code" name="code" type="text" autocomplete="one-time-code" required autofocus=true
                aria-describedby="mfa-code-help"
                inputmode=move || if method.get() == MfaCodeMethod::Totp { "numeric" } else { "text" }
                prop:value=move || code.get() on:input=move |ev| code.set(input_value(&ev))/>
            {action_error(verify.value())}
            <button type="submit" class="primary" disabled=move || verify.pending().get()>"Verify"</button>
        </form>
        })}
        {can_switch.then(|| view! {
            <p class="muted">
                <button type="button" class="link" on:click=move |_| {
                    code.set(String::new());
                    verify.value().set(None);
                    method.update(|m| *m = if *m == MfaCodeMethod::Totp { MfaCodeMethod::BackupCode } else { MfaCodeMethod::Totp });
                }>
                    {move || if method.get() == MfaCodeMethod::Totp { "Use a backup code instead" } else { "Use your authenticator app instead" }}
                </button>
            </p>
        })}
    }
}

#[component]
pub fn Signup() -> impl IntoView {
    let query = use_query_map();
    let next = move || safe_next(query.read_untracked().get("next"));
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let signup = api::action(|req: &SignupRequest| api::accounts::signup(req.clone()));
    Effect::new(move |_| {
        if let Some(Ok(_)) = signup.value().get() {
            let _ = window().location().set_href(&next());
        }
    });
    view! {
        <AuthCard title="Create your account">
            <form on:submit=move |ev| {
                ev.prevent_default();
                let n = name.get_untracked();
                signup.dispatch(SignupRequest {
                    email: email.get_untracked(),
                    password: password.get_untracked(),
                    display_name: (!n.trim().is_empty()).then_some(n),
                });
            }>
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required
                    prop:value=move || email.get() on:input=move |ev| email.set(input_value(&ev))/>
                <label for="display_name">"Your name " <span class="muted">"(optional)"</span></label>
                <input id="display_name" name="display_name" type="text" autocomplete="name"
                    prop:value=move || name.get() on:input=move |ev| name.set(input_value(&ev))/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="new-password" required
                    prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
                {action_error(signup.value())}
                <button type="submit" class="primary" disabled=move || signup.pending().get()>"Create account"</button>
            </form>
            <p class="muted">"Already have an account? "<a href="/login">"Sign in"</a></p>
        </AuthCard>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <AuthCard title="Page not found">
            <p><a href="/orgs">"Go to your organizations"</a></p>
        </AuthCard>
    }
}

#[component]
pub fn VerifyEmail() -> impl IntoView {
    let query = use_query_map();
    let token = query.read_untracked().get("token").unwrap_or_default();
    // Verifying is a POST the page makes itself, so a mail scanner that follows the link
    // verifies nothing.
    let verify = api::action(|t: &String| api::accounts::verify_email(t.clone()));
    if !token.is_empty() {
        verify.dispatch(token);
    }
    view! {
        <AuthCard title="Verify your email">
            {move || match verify.value().get() {
                None if verify.pending().get() => view! { <p class="loading">"Verifying…"</p> }.into_any(),
                None => view! { <p class="error" role="alert">"This link has no token. Open the link from the email again."</p> }.into_any(),
                Some(Ok(u)) => view! {
                    <p class="success" role="status">{format!("{} is verified.", u.email)}</p>
                    <p><a href="/orgs">"Continue to Gatehouse"</a></p>
                }.into_any(),
                Some(Err(e)) => view! { <ErrorBox err=e/> <p><a href="/account/profile">"Send a new link from your profile"</a></p> }.into_any(),
            }}
        </AuthCard>
    }
}

#[component]
pub fn ForgotPassword() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let request = api::action(|e: &String| {
        api::accounts::request_password_reset(&PasswordResetRequest { email: e.clone() })
    });
    view! {
        <AuthCard title="Reset your password">
            {move || match request.value().get() {
                Some(Ok(a)) => view! {
                    <p class="success" role="status">{a.message}</p>
                    <p><a href="/login">"Back to sign in"</a></p>
                }.into_any(),
                _ => view! {
                    <form on:submit=move |ev| {
                        ev.prevent_default();
                        request.dispatch(email.get_untracked());
                    }>
                        <label for="email">"Email"</label>
                        <input id="email" name="email" type="email" autocomplete="email" required
                            prop:value=move || email.get() on:input=move |ev| email.set(input_value(&ev))/>
                        {action_error(request.value())}
                        <button type="submit" class="primary" disabled=move || request.pending().get()>"Send reset link"</button>
                    </form>
                    <p class="muted"><a href="/login">"Back to sign in"</a></p>
                }.into_any(),
            }}
        </AuthCard>
    }
}

#[component]
pub fn ResetPassword() -> impl IntoView {
    let query = use_query_map();
    let token = query.read_untracked().get("token").unwrap_or_default();
    let password = RwSignal::new(String::new());
    let reset =
        api::action(|req: &PasswordResetConfirm| api::accounts::confirm_password_reset(req));
    let missing = token.is_empty();
    view! {
        <AuthCard title="Choose a new password">
            {move || match reset.value().get() {
                Some(Ok(())) => view! {
                    <p class="success" role="status">"Your password has been changed, and every session signed out."</p>
                    <p><a href="/login">"Sign in with the new password"</a></p>
                }.into_any(),
                _ if missing => view! {
                    <p class="error" role="alert">"This link has no token. Ask for a new one."</p>
                    <p><a href="/forgot-password">"Reset your password"</a></p>
                }.into_any(),
                _ => {
                    let token = token.clone();
                    view! {
                        <form on:submit=move |ev| {
                            ev.prevent_default();
                            reset.dispatch(PasswordResetConfirm { token: token.clone(), new_password: password.get_untracked() });
                        }>
                            <label for="new-password">"New password"</label>
                            <input id="new-password" type="password" autocomplete="new-password" required minlength="12"
                                prop:value=move || password.get() on:input=move |ev| password.set(input_value(&ev))/>
                            <p class="muted help">"At least 12 characters."</p>
                            {action_error(reset.value())}
                            <button type="submit" class="primary" disabled=move || reset.pending().get()>"Set new password"</button>
                        </form>
                    }.into_any()
                }
            }}
        </AuthCard>
    }
}
