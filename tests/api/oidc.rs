//! Sign-in through a real OpenID Connect provider: the npm package `oidc-provider`, started by
//! the test from `tests/oidc` (installed there with `npm ci` on first use). Covers login with provisioning and group-to-role mapping, a wrong `state`, and a
//! tampered ID token.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use twinhub::config::{GrantSetting, GroupGrantSetting, OidcIssuerSettings, Secret};
use twinhub::domain::access::{Namespace, Role};

use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, browser, spawn_app_with};

const CLIENT_SECRET: &str = "twinhub-test-secret";

/// The provider process, stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Whether the provider can run: node is there (or, outside CI, a notice and a skip) and
/// oidc-provider is installed (`npm ci` on first use).
fn provider_installed() -> bool {
    if !crate::external::tool_available("node", "install Node.js") {
        return false;
    }
    crate::external::npm_install(&provider_dir(), "oidc-provider");
    true
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start_provider(port: u16, redirect_uri: &str) -> Provider {
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .arg(port.to_string())
        .arg(redirect_uri)
        .current_dir(provider_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines.any(|line| line.is_ok_and(|l| l.trim() == "ready"));
    assert!(ready, "oidc-provider did not start");
    // Keep reading: the provider logs notices later, and a closed pipe would crash it.
    std::thread::spawn(move || lines.for_each(drop));
    Provider {
        child,
        issuer: format!("http://127.0.0.1:{port}"),
    }
}

fn issuer_settings(issuer: &str) -> OidcIssuerSettings {
    let acme = Namespace::parse("dtmi:com:acme").expect("namespace");
    OidcIssuerSettings {
        name: "corp".to_owned(),
        display_name: Some("Corporate sign-in".to_owned()),
        issuer: issuer.to_owned(),
        client_id: "twinhub".to_owned(),
        client_secret: Some(Secret::new(CLIENT_SECRET)),
        scopes: vec!["profile".to_owned(), "email".to_owned()],
        username_claim: "preferred_username".to_owned(),
        groups_claim: "groups".to_owned(),
        default_grants: vec![GrantSetting {
            role: Role::Reader,
            namespaces: vec![Namespace::parse("dtmi:org:shared").expect("namespace")],
        }],
        group_grants: vec![
            GroupGrantSetting {
                group: "twinhub-admins".to_owned(),
                role: Role::Admin,
                namespaces: Vec::new(),
            },
            GroupGrantSetting {
                group: "acme-publishers".to_owned(),
                role: Role::Publisher,
                namespaces: vec![acme],
            },
        ],
    }
}

/// The `action` of the page's form and its hidden inputs.
fn form_of(page: &str) -> Option<(String, Vec<(String, String)>)> {
    let action_start = page.find("action=\"")? + "action=\"".len();
    let action = page[action_start..].split('"').next()?.to_owned();
    let mut fields = Vec::new();
    for input in page.split("<input").skip(1) {
        let attr = |name: &str| {
            let marker = format!("{name}=\"");
            input.find(&marker).map(|i| {
                input[i + marker.len()..]
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
        };
        if attr("type").as_deref() == Some("hidden")
            && let (Some(name), Some(value)) = (attr("name"), attr("value"))
        {
            fields.push((name, value));
        }
    }
    Some((action, fields))
}

/// Walks the provider's development login and consent pages as `user` from `start`, and
/// returns the URL the provider finally redirects to (the client's redirect URI).
async fn sign_in_at_provider(
    browser: &reqwest::Client,
    provider: &Provider,
    start: &str,
    user: &str,
) -> String {
    // Relative links and redirects are on the provider.
    let absolute = |link: &str| {
        if link.starts_with('/') {
            format!("{}{link}", provider.issuer)
        } else {
            link.to_owned()
        }
    };
    let location = |response: &reqwest::Response| {
        absolute(response.headers()["location"].to_str().expect("location"))
    };
    let mut next = start.to_owned();
    for _ in 0..20 {
        let response = browser.get(&next).send().await.expect("provider page");
        if response.status().is_redirection() {
            next = location(&response);
        } else {
            let page = response.text().await.expect("page");
            let (action, mut fields) =
                form_of(&page).unwrap_or_else(|| panic!("no form on {next}: {page}"));
            if page.contains("name=\"login\"") {
                fields.push(("login".to_owned(), user.to_owned()));
                fields.push(("password".to_owned(), "any".to_owned()));
            }
            let target = absolute(&action);
            let response = browser
                .post(&target)
                .form(&fields)
                .send()
                .await
                .expect("form post");
            assert!(
                response.status().is_redirection(),
                "posting {target} gave {}",
                response.status()
            );
            next = location(&response);
        }
        if !next.starts_with(&provider.issuer) {
            return next;
        }
    }
    panic!("the provider never redirected back");
}

async fn admin_json(app: &TestApp, path: &str) -> Value {
    app.client
        .get(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn people_sign_in_through_a_real_oidc_provider_and_get_their_mapped_roles() {
    if !provider_installed() {
        return;
    }
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(Backend::Sqlite, |s| s.oidc = vec![issuer_settings(&issuer)]).await;
    let provider = start_provider(port, &app.url("/login/oidc/corp/callback"));

    // The login page offers the issuer.
    let page = app
        .client
        .get(app.url("/login"))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("Corporate sign-in") && page.contains("/login/oidc/corp"),
        "{page}"
    );

    for (user, expected_grant) in [
        ("alice", json!(["publisher", "dtmi:com:acme"])),
        ("admin1", json!(["admin", "*"])),
    ] {
        let browser = browser();
        let start = browser
            .get(app.url("/login/oidc/corp?return_to=/api/v1/tokens"))
            .send()
            .await
            .expect("start");
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        let authorize = start.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        assert!(
            authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="),
            "{authorize}"
        );
        let callback = sign_in_at_provider(&browser, &provider, &authorize, user).await;
        assert!(
            callback.starts_with(&app.url("/login/oidc/corp/callback")),
            "{callback}"
        );
        let done = browser.get(&callback).send().await.expect("callback");
        assert_eq!(
            done.status(),
            StatusCode::SEE_OTHER,
            "{:?}",
            done.text().await
        );
        assert_eq!(done.headers()["location"], "/api/v1/tokens");
        // Signed in: the session works.
        let tokens = browser
            .get(app.url("/api/v1/tokens"))
            .send()
            .await
            .expect("tokens");
        assert_eq!(tokens.status(), StatusCode::OK);

        let users = admin_json(&app, "/api/v1/users").await;
        let provisioned = users["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|u| u["name"] == user)
            .cloned();
        assert_eq!(
            provisioned.as_ref().map(|u| u["source"].clone()),
            Some(json!(issuer)),
            "{users}"
        );
        let grants = admin_json(&app, "/api/v1/grants").await;
        let held: Vec<Value> = grants["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|g| g["subject"] == format!("user:{user}"))
            .map(|g| json!([g["role"], g["namespace"]]))
            .collect();
        assert!(held.contains(&expected_grant), "{user}: {held:?}");
        assert!(
            held.contains(&json!(["reader", "dtmi:org:shared"])),
            "first-login default grant: {held:?}"
        );
    }

    // A response whose state is not the one this browser's sign-in started is refused.
    let browser = browser();
    let start = browser
        .get(app.url("/login/oidc/corp"))
        .send()
        .await
        .expect("start");
    let authorize = start.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let callback = sign_in_at_provider(&browser, &provider, &authorize, "carol").await;
    let code = query_value(&callback, "code");
    let forged = app.url(&format!(
        "/login/oidc/corp/callback?code={code}&state=forged"
    ));
    let refused = browser.get(&forged).send().await.expect("callback");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = refused.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("state")),
        "{problem}"
    );
    let users = admin_json(&app, "/api/v1/users").await;
    assert!(
        !users.to_string().contains("carol"),
        "carol must not be provisioned: {users}"
    );
}

#[tokio::test]
async fn a_tampered_id_token_from_the_provider_is_refused() {
    if !provider_installed() {
        return;
    }
    twinhub_client::install_crypto_provider();
    let port = free_port();
    let redirect = "http://127.0.0.1:9/callback";
    let provider = start_provider(port, redirect);
    let settings = issuer_settings(&provider.issuer);
    // A flow of our own against the provider, to hold a genuine ID token.
    let verifier = "a-test-code-verifier-that-is-long-enough-for-pkce-0123456789";
    let challenge = base64_url(&Sha256::digest(verifier.as_bytes()));
    let nonce = "test-nonce-123";
    let authorize = format!(
        "{}/auth?client_id=twinhub&response_type=code&scope=openid%20profile&redirect_uri={}&state=s1&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        provider.issuer,
        percent_encode(redirect)
    );
    let browser = browser();
    let callback = sign_in_at_provider(&browser, &provider, &authorize, "dave").await;
    let code = query_value(&callback, "code");
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/token", provider.issuer))
        .basic_auth("twinhub", Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let id_token = tokens["id_token"].as_str().expect("id_token").to_owned();

    let providers = twinhub::auth::oidc::OidcProviders::new(&[settings]);
    let identity = providers
        .verify_id_token("corp", &id_token, nonce)
        .await
        .expect("the genuine token verifies");
    assert_eq!(identity.username, "dave");

    // Change one claim in the payload, keeping the signature.
    let parts: Vec<&str> = id_token.split('.').collect();
    let payload = String::from_utf8(base64_url_decode(parts[1])).expect("utf8");
    let forged_payload = payload.replace("\"dave\"", "\"root\"");
    assert_ne!(payload, forged_payload);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        base64_url(forged_payload.as_bytes()),
        parts[2]
    );
    let error = providers
        .verify_id_token("corp", &tampered, nonce)
        .await
        .expect_err("tampered token");
    assert!(error.to_string().contains("not acceptable"), "{error}");
    // A genuine token for another sign-in (wrong nonce) is refused too.
    let error = providers
        .verify_id_token("corp", &id_token, "another-nonce")
        .await
        .expect_err("nonce");
    assert!(error.to_string().contains("nonce"), "{error}");
}

/// A query parameter of a URL.
fn query_value(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url, as JWTs use.
fn base64_url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn base64_url_decode(text: &str) -> Vec<u8> {
    let values: Vec<u32> = text
        .bytes()
        .filter_map(|c| ALPHABET.iter().position(|a| *a == c))
        .map(|v| v as u32)
        .collect();
    let mut out = Vec::new();
    for chunk in values.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | (v << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push(((n >> (16 - 8 * i)) & 0xff) as u8);
        }
    }
    out
}
