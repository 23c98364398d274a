//! RPC over REST: sessions and the http key, JSON-string and raw payloads, errors.

mod common;

use common::{bearer, call, session, start};
use kaosnet::{ApiError, Code};
use serde_json::json;

#[test]
fn rpc_functions_answer_sessions_and_servers() {
    let api = start();
    api.kaos.rpcs().register("echo", |_, payload| Ok(payload.to_string()));
    api.kaos.rpcs().register("whoami", |ctx, _| Ok(json!({"user": ctx.user_id, "name": ctx.username}).to_string()));
    api.kaos.rpcs().register("refuse", |_, _| Err(ApiError::new(Code::PermissionDenied, "not you")));
    api.kaos.rpcs().register("boom", |_, _| panic!("handler bug"));
    let s = session(&api, "device-rpc-0001", "rpcuser");
    let auth = bearer(&s["token"]);

    let (status, out) = call(&api, "POST", "/v2/rpc/echo", &auth, &json!("{\"n\":1}").to_string());
    assert_eq!((status, out), (200, json!({"id": "echo", "payload": "{\"n\":1}"})));
    let (_, out) = call(&api, "POST", "/v2/rpc/ECHO?unwrap", &auth, "{\"raw\":true}");
    assert_eq!(out, json!({"raw": true}));
    let (_, out) = call(&api, "GET", "/v2/rpc/echo?payload=hello", &auth, "");
    assert_eq!(out["payload"], "hello");
    let (_, out) = call(&api, "POST", "/v2/rpc/whoami", &auth, "");
    let who: serde_json::Value = serde_json::from_str(out["payload"].as_str().unwrap()).unwrap();
    assert_eq!(who["name"], "rpcuser");
    // Server to server: the http key, no user.
    let (status, out) = call(&api, "POST", "/v2/rpc/whoami?http_key=defaulthttpkey", "", "");
    assert_eq!(status, 200);
    assert_eq!(out["payload"], json!({"user": null, "name": null}).to_string());
    let (status, err) = call(&api, "POST", "/v2/rpc/whoami?http_key=wrong", "", "");
    assert_eq!((status, err["code"].clone()), (401, json!(16)));
    assert_eq!(call(&api, "POST", "/v2/rpc/whoami", "", "").0, 401);
    // Errors: unknown function, a refusal, a bad payload, a panic (and the server goes on).
    assert_eq!(call(&api, "POST", "/v2/rpc/nope", &auth, "").1["code"], 5);
    assert_eq!(call(&api, "POST", "/v2/rpc/refuse", &auth, "").0, 403);
    assert_eq!(call(&api, "POST", "/v2/rpc/echo", &auth, "{\"not\":\"a string\"}").0, 400);
    let (status, err) = call(&api, "POST", "/v2/rpc/boom", &auth, "");
    assert_eq!((status, err["code"].clone()), (500, json!(13)));
    assert_eq!(call(&api, "POST", "/v2/rpc/echo", &auth, "\"still up\"").1["payload"], "still up");
}
