//! The client against a tiny hand-rolled HTTP server: transient failures are retried with
//! backoff and permanent ones are not, the bearer token is sent, 401/403 are told apart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twinhub_client::{ClientError, ClientOptions, DependencyResolution, RepositoryClient};

const MODEL: &str = r#"{"@context": "dtmi:dtdl:context;2", "@id": "dtmi:com:example:Thermostat;1", "@type": "Interface"}"#;

/// Serves `answer(request number, request head)` → (status, body) on a random port.
async fn server(
    answer: impl Fn(usize, &str) -> (u16, &'static str) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (seen, answer) = (seen.clone(), answer.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let number = seen.fetch_add(1, Ordering::SeqCst);
                let (status, body) = answer(number, &String::from_utf8_lossy(&head));
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (address, count)
}

fn options() -> ClientOptions {
    ClientOptions {
        token: Some("secret-token".to_owned()),
        initial_backoff: Duration::from_millis(10),
        max_attempts: 4,
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn transient_failures_are_retried_until_the_model_arrives() {
    let (address, count) = server(|n, head| {
        assert!(
            head.to_ascii_lowercase()
                .contains("authorization: bearer secret-token"),
            "{head}"
        );
        if n < 2 { (503, "") } else { (200, MODEL) }
    })
    .await;
    let client = RepositoryClient::with_options(&address, options()).expect("client");
    let models = client
        .get_models(
            &["dtmi:com:example:Thermostat;1"],
            DependencyResolution::Disabled,
        )
        .await
        .expect("resolved after retries");
    assert_eq!(&*models[0].content, MODEL);
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn permanent_failures_are_not_retried_and_credentials_are_named() {
    let (address, count) = server(|_, _| (400, r#"{"detail": "bad"}"#)).await;
    let client = RepositoryClient::with_options(&address, options()).expect("client");
    let error = client
        .get_models(
            &["dtmi:com:example:Thermostat;1"],
            DependencyResolution::Disabled,
        )
        .await
        .expect_err("400");
    assert!(
        matches!(error, ClientError::Status { status: 400, .. }),
        "{error}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);

    let (address, count) = server(|_, _| (403, r#"{"detail": "no rights"}"#)).await;
    let client = RepositoryClient::with_options(&address, options()).expect("client");
    let error = client
        .get_models(
            &["dtmi:com:example:Thermostat;1"],
            DependencyResolution::Disabled,
        )
        .await
        .expect_err("403");
    assert!(error.is_unauthorized(), "{error}");
    assert!(error.to_string().contains("no rights"), "{error}");
    assert_eq!(count.load(Ordering::SeqCst), 1);

    let (address, count) = server(|_, _| (503, "")).await;
    let client = RepositoryClient::with_options(&address, options()).expect("client");
    let error = client
        .get_models(
            &["dtmi:com:example:Thermostat;1"],
            DependencyResolution::Disabled,
        )
        .await
        .expect_err("always 503");
    assert!(error.is_retryable(), "{error}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        4,
        "max_attempts requests, then the error"
    );
}
