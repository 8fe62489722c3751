//! The OpenAI-compatible engine against a small fake server speaking the real wire format.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use tradeoff_engine::{ChatMessage, FinishReason, GenParams, GenRequest};

/// Serves /v1/models, /props and a streamed /v1/completions that echoes the seed; returns the URL.
fn fake_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let mut s = conn.unwrap();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                r.read_line(&mut first).unwrap();
                let mut len = 0;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let reply = |s: &mut std::net::TcpStream, ctype: &str, b: &str| {
                    write!(s, "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len())
                        .unwrap();
                };
                if first.starts_with("GET /v1/models") {
                    reply(
                        &mut s,
                        "application/json",
                        r#"{"object":"list","data":[{"id":"fake-coder"}]}"#,
                    );
                } else if first.starts_with("GET /props") {
                    reply(
                        &mut s,
                        "application/json",
                        r#"{"chat_template":"{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"}"#,
                    );
                } else if first.starts_with("POST /v1/completions") {
                    let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(req["model"], "fake-coder");
                    assert_eq!(req["stream"], true);
                    let seed = req["seed"].as_u64().unwrap();
                    let pieces = [
                        "def",
                        " f",
                        "():",
                        "\n    return ",
                        &seed.to_string(),
                        "\n```",
                        "\nmore",
                    ];
                    let mut sse = String::new();
                    for p in pieces {
                        let ev = serde_json::json!({"choices":[{"text": p, "index": 0, "finish_reason": null}]});
                        sse.push_str(&format!("data: {ev}\n\n"));
                    }
                    sse.push_str("data: {\"choices\":[{\"text\":\"\",\"index\":0,\"finish_reason\":\"length\"}]}\n\n");
                    sse.push_str("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}\n\ndata: [DONE]\n\n");
                    reply(&mut s, "text/event-stream", &sse);
                } else {
                    write!(
                        s,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .unwrap();
                }
            });
        }
    });
    url
}

#[test]
fn remote_engine_streams_cuts_at_stops_and_batches() {
    let url = fake_server();
    let mut e = tradeoff_engine::open_engine(&format!("{url}/v1"), Default::default()).unwrap();
    assert_eq!(e.info().engine, "openai");
    assert!(e.info().model.ends_with("#fake-coder"));
    let chat = e
        .render_chat(&[ChatMessage::new("user", "hi")], true)
        .unwrap();
    assert_eq!(chat, "<user>hi<assistant>");
    let p = GenParams {
        stop: vec!["\n```".into()],
        seed: 40,
        ..Default::default()
    };
    let mut streamed = String::new();
    let g = e.generate(
        &GenRequest {
            prompt: chat,
            params: p.clone(),
            n: 2,
        },
        &mut |_, i, t| {
            if i == 0 {
                streamed.push_str(t)
            }
        },
    );
    let g = g.unwrap();
    assert_eq!(g.samples[0].text, "def f():\n    return 40");
    assert_eq!(
        g.samples[1].text, "def f():\n    return 41",
        "sample i uses seed + i"
    );
    assert_eq!(g.samples[0].finish, FinishReason::Stop);
    assert_eq!(g.samples[0].tokens, 7, "token count from the usage event");
    assert_eq!(g.timing.prompt_tokens, 5);
    assert!(streamed.starts_with("def f():"));
    let reqs: Vec<GenRequest> = (0..5)
        .map(|i| {
            GenRequest::new(
                "x",
                GenParams {
                    seed: i,
                    stop: p.stop.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let mut got = vec![String::new(); 5];
    e.generate_many(&reqs, &mut |i, g| {
        got[i] = g.unwrap().samples[0].text.clone()
    })
    .unwrap();
    for (i, t) in got.iter().enumerate() {
        assert_eq!(t, &format!("def f():\n    return {i}"));
    }
}

#[test]
fn unreachable_server_is_one_clear_error() {
    // Without a model id, connecting asks the server for its models.
    let err = tradeoff_engine::open_engine("http://127.0.0.1:9/v1", Default::default())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("127.0.0.1:9") && err.contains("is it running"),
        "{err}"
    );
    // With one, the first request fails the same way.
    let mut e =
        tradeoff_engine::open_engine("http://127.0.0.1:9/v1#m", Default::default()).unwrap();
    let err = e
        .generate(
            &GenRequest::new("x", GenParams::default()),
            &mut |_, _, _| {},
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("127.0.0.1:9") && err.contains("is it running"),
        "{err}"
    );
}
