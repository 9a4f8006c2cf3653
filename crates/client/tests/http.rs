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
    /// Status and body served, what the error must be, requests the server must have seen.
    type Case = (u16, &'static str, fn(&ClientError) -> bool, usize);
    let cases: [Case; 3] = [
        (
            400,
            r#"{"detail": "bad"}"#,
            |e| matches!(e, ClientError::Status { status: 400, .. }),
            1,
        ),
        (
            403,
            r#"{"detail": "no rights"}"#,
            |e| e.is_unauthorized() && e.to_string().contains("no rights"),
            1,
        ),
        // Transient, so retried: max_attempts requests, then the error.
        (503, "", ClientError::is_retryable, 4),
    ];
    for (status, body, expected, requests) in cases {
        let (address, count) = server(move |_, _| (status, body)).await;
        let client = RepositoryClient::with_options(&address, options()).expect("client");
        let error = client
            .get_models(
                &["dtmi:com:example:Thermostat;1"],
                DependencyResolution::Disabled,
            )
            .await
            .expect_err("refused");
        assert!(expected(&error), "{status}: {error}");
        assert_eq!(count.load(Ordering::SeqCst), requests, "{status}");
    }
}
