//! `wss://` on the server's own listener, and subprotocol selection: a rustls client
//! trusting a test CA, through tungstenite.

mod common;

use common::Echo;
use kaos_http::TlsConfig;
use kaos_ws::WsConfig;
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

#[path = "../../http/tests/common/ca.rs"]
mod ca;

#[test]
fn wss_echoes_large_messages_and_the_preferred_offered_subprotocol_is_chosen() {
    let ca = ca::Ca::new();
    let (cert, key) = ca.issue("ws");
    let tls = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let protocols = vec!["v2.kaos".to_string(), "v1.kaos".to_string()];
    let echo = Echo::start(WsConfig { tls: Some(tls), protocols, ..WsConfig::default() });
    let client = ca.client();
    let open = |offer: Option<&str>| {
        let tls = ca::connect(echo.addr, &client);
        let mut request = format!("wss://127.0.0.1:{}/game", echo.addr.port()).into_client_request().unwrap();
        if let Some(offer) = offer {
            request.headers_mut().insert("Sec-WebSocket-Protocol", offer.parse().unwrap());
        }
        tungstenite::client(request, tls).unwrap()
    };

    let (mut ws, response) = open(Some("chat, v1.kaos, v2.kaos"));
    assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "v2.kaos");
    ws.send(Message::text("protocol?")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("v2.kaos"));
    // Larger than rustls's send buffer and a TLS record: written over several turns.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
    for _ in 0..3 {
        ws.send(Message::binary(big.clone())).unwrap();
    }
    for _ in 0..3 {
        assert_eq!(ws.read().unwrap(), Message::binary(big.clone()));
    }
    ws.close(None).unwrap();

    let (mut ws, response) = open(Some("v1.kaos"));
    assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "v1.kaos");
    ws.send(Message::text("protocol?")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("v1.kaos"));

    let (mut ws, response) = open(None);
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    ws.send(Message::text("protocol?")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("none"));
}
