//! `loket serve --demo`: a ready member to try loket with.

use loket_core::{Mode, Rupiah};
use loket_store::Store;
use std::net::SocketAddr;

pub const DEMO_USERNAME: &str = "081234567890";
const DEMO_DEPOSIT: i64 = 10_000_000;

pub async fn ensure_demo_member(store: &Store, addr: SocketAddr) -> Result<(), String> {
    let member = match store
        .member_by_username(DEMO_USERNAME)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(m) => std::sync::Arc::unwrap_or_clone(m),
        None => {
            let m = store
                .create_member(loket_store::new_keys(DEMO_USERNAME, "Demo Member"))
                .await
                .map_err(|e| e.to_string())?;
            store
                .deposit(m.id, Mode::Live, Rupiah::new(DEMO_DEPOSIT))
                .await
                .map_err(|e| e.to_string())?;
            m
        }
    };
    let live = store
        .balance(member.id, Mode::Live)
        .await
        .map_err(|e| e.to_string())?;
    let sandbox = store
        .balance(member.id, Mode::Sandbox)
        .await
        .map_err(|e| e.to_string())?;
    let ref_id = format!("demo-{}", loket_core::jakarta::now());
    let sign = loket_client::iak::sign(&member.username, &member.dev_api_key, &ref_id);
    println!("demo member (sandbox requests are signed with dev_api_key):");
    println!("  username     {}", member.username);
    println!("  api_id       {}", member.api_id);
    println!("  api_key      {}", member.api_key);
    println!("  dev_api_key  {}", member.dev_api_key);
    println!("  secret_key   {}", member.secret_key);
    println!(
        "  balance      {}   sandbox balance {}",
        live.balance.display_idr(),
        sandbox.balance.display_idr()
    );
    println!("try a sandbox inquiry (PGAS test number 0110010000):");
    println!(
        "  curl -s http://{addr}/api/v1/bill/check -H 'Content-Type: application/json' -d '{{\"commands\":\"inq-pasca\",\"username\":\"{}\",\"code\":\"PGAS\",\"hp\":\"0110010000\",\"ref_id\":\"{ref_id}\",\"sign\":\"{sign}\"}}'",
        member.username
    );
    println!("or: loket call iak inquiry --url http://{addr} --username {} --key <dev_api_key> --code PGAS --hp 0110010000", member.username);
    Ok(())
}
