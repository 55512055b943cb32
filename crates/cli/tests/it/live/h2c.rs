//! HTTP/2 towards upstreams (docs/upstreams.md "HTTP versions"): an upstream with
//! `http = "http2"` is spoken to in cleartext HTTP/2 with prior knowledge (h2c), so the payments
//! in flight to it share one connection instead of holding a socket each; loket serves h2c
//! itself on its HTTP/1.1 port, so one loket can be another's h2c upstream.

use super::fake::*;
use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// A TCP relay in front of `target` that counts the connections it is asked for.
struct CountingProxy {
    base_url: String,
    connections: Arc<AtomicUsize>,
}

impl CountingProxy {
    async fn start(target: &str) -> CountingProxy {
        let target = target.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        CountingProxy {
            base_url: format!("http://{addr}"),
            connections,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// How many payments the chain test sends at once.
const AT_ONCE: usize = 24;

/// A (live) routes PGAS to B (a sandbox loket) over h2c, through a relay that counts
/// connections: every inquiry and payment is answered as over HTTP/1.1, A's and B's ledgers
/// agree, and the payments sent at once shared one connection.
#[each_backend(flavor = "multi_thread", worker_threads = 4)]
async fn a_chain_of_two_lokets_over_h2c_shares_one_connection() {
    let b = spawn_app_with(b_config()).await;
    let bm = b.create_member("081255500011").await;
    let proxy = CountingProxy::start(&b.base_url).await;
    let a = spawn_app_with(a_config()).await;
    a.add_upstream(UpstreamRecord {
        http: "http2".into(),
        ..upstream("b", "iak", &proxy.base_url, &bm.username, &bm.api_key)
    })
    .await;
    a.add_route("PGAS", "b", 1, None).await;
    const DEPOSIT: i64 = 50_000_000;
    let am = a.live_member("081266600011", DEPOSIT).await;
    let client = a.live_client(&am);

    // One payment first: the documented bill, paid, charged A's selling_price.
    let tr_id = quote_tr_id(&client, &params("PGAS", "0110010000")).await;
    let r = pay(&client, tr_id).await;
    assert_rc(&r, "00", "PAYMENT SUCCESS");
    assert_eq!(r.field("noref").as_deref(), Some(PGAS_NOREF), "{}", r.body);
    let mut spent = PGAS_SELLING_PRICE;
    assert_eq!(int_field(&r, "balance"), DEPOSIT - spent, "{}", r.body);

    // Then many at once (generated bills, sandbox rule 3: all paid).
    let mut quotes = Vec::new();
    for i in 0..AT_ONCE {
        let r = inquire(&client, &params("PGAS", &format!("02205577{i:02}"))).await;
        assert_eq!(r.rc().as_deref(), Some("00"), "{}", r.body);
        quotes.push((int_field(&r, "tr_id"), int_field(&r, "selling_price")));
    }
    let mut set = JoinSet::new();
    for (tr_id, _) in &quotes {
        let (client, tr_id) = (client.clone(), *tr_id);
        set.spawn(async move { (tr_id, pay(&client, tr_id).await) });
    }
    while let Some(done) = set.join_next().await {
        let (tr_id, r) = done.expect("the payment task");
        assert_rc(&r, "00", "PAYMENT SUCCESS");
        let at_a = a.payment(tr_id).await.expect("A's payment");
        assert_eq!(at_a.state, PaymentState::Success, "{tr_id}");
    }
    spent += quotes.iter().map(|(_, price)| price).sum::<i64>();
    assert_eq!(a.live_balance(&am).await, (DEPOSIT - spent, 0));
    a.assert_ledger_clean().await;
    b.assert_ledger_clean().await;
    // B charged its member's sandbox balance exactly what A paid out.
    let at_b = b.sandbox_balance(&bm).await;
    assert_eq!(at_b.held.get(), 0);
    assert_eq!(
        1_000_000_000 - at_b.balance.get(),
        spent,
        "B's member paid what A's member paid"
    );
    assert_eq!(
        proxy.connections(),
        1,
        "every request to B shared one HTTP/2 connection"
    );
}

/// `http = "http2"` is prior knowledge, not a negotiation: an upstream that speaks only
/// HTTP/1.1 gets no request it could take for a call, and the inquiry is not quoted.
#[each_backend]
async fn an_http1_only_upstream_is_not_reachable_as_http2() {
    let fake = FakeIak::start().await;
    let a = spawn_app_with(a_config()).await;
    a.add_upstream(UpstreamRecord {
        http: "http2".into(),
        ..upstream("fake", "iak", fake.base_url(), &fake.username, &fake.key)
    })
    .await;
    a.add_route("PGAS", "fake", 1, None).await;
    let am = a.live_member("081277700011", 10_000_000).await;
    let p = params("PGAS", "0110019011");
    let r = inquire(&a.live_client(&am), &p).await;
    assert_ne!(r.rc().as_deref(), Some("00"), "{}", r.body);
    assert_eq!(fake.server.count("inq-pasca"), 0);
    a.assert_nothing_stored(&am, &p.ref_id).await;

    // The same upstream as HTTP/1.1 (the default) quotes the bill.
    a.add_upstream(upstream(
        "fake",
        "iak",
        fake.base_url(),
        &fake.username,
        &fake.key,
    ))
    .await;
    let r = eventually(
        Duration::from_secs(10),
        "the upstream record to reload",
        || {
            let client = a.live_client(&am);
            async move {
                let r = inquire(&client, &params("PGAS", "0110019012")).await;
                (r.rc().as_deref() == Some("00")).then_some(r)
            }
        },
    )
    .await;
    assert_eq!(int_field(&r, "nominal"), FAKE_NOMINAL, "{}", r.body);
    assert_eq!(fake.server.count("inq-pasca"), 1);
}

/// `loket upstream add --http` stores the version (default `auto`); `upstream list` shows it; an
/// unknown version is refused, in the file too.
#[each_backend]
async fn upstream_add_takes_the_http_version() {
    let db = db();
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "upstream",
            "add",
            "--name",
            name,
            "--kind",
            "iak",
            "--base-url",
            "http://127.0.0.1:9",
            "--username",
            "u",
            "--api-key",
            "k",
            "--database",
            &db.url,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = add("plain", &[]);
    assert_eq!(output_json(&["upstream", "add"], &out)["http"], "auto");
    let out = add("multiplexed", &["--http", "http2"]);
    assert_eq!(output_json(&["upstream", "add"], &out)["http"], "http2");
    let out = add("bad", &["--http", "h3"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("http2"), "{}", text(&out.stderr));
    let list = run_json(&["upstream", "list", "--database", &db.url]);
    let versions: Vec<(String, String)> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().into(),
                u["http"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        vec![
            ("multiplexed".to_string(), "http2".to_string()),
            ("plain".to_string(), "auto".to_string())
        ]
    );

    let config = db.write_config(
        "[[upstream]]\nname = \"x\"\nkind = \"iak\"\nbase_url = \"http://127.0.0.1:9\"\n\
         username = \"u\"\napi_key = \"k\"\nhttp = \"spdy\"\n",
    );
    let out = run(&[
        "serve",
        "--config",
        &config,
        "--database",
        &db.url,
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown http version"),
        "{}",
        text(&out.stderr)
    );
}
