//! `loket call iak|isikuota ...`: sign and send one request as a member would, print the answer.

use clap::{Args, Subcommand};
use loket_client::iak::{Format, IakClient, IakResponse, InquiryParams};
use loket_client::isikuota::{IsikuotaClient, IsikuotaResponse};

#[derive(Subcommand)]
pub enum CallCommand {
    /// The IAK postpaid protocol.
    #[command(subcommand)]
    Iak(IakCall),
    /// The isikuota order protocol.
    #[command(subcommand)]
    Isikuota(IsikuotaCall),
}

#[derive(Args, Clone)]
pub struct IqConn {
    /// Base URL of the server.
    #[arg(long, env = "LOKET_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    #[arg(long, env = "LOKET_API_ID")]
    api_id: String,
    #[arg(long, env = "LOKET_API_KEY", hide_env_values = true)]
    api_key: String,
    #[arg(long, env = "LOKET_SECRET_KEY", hide_env_values = true)]
    secret_key: String,
}

#[derive(Subcommand)]
pub enum IsikuotaCall {
    /// cmd=inquiry.
    Inquiry {
        #[command(flatten)]
        conn: IqConn,
        #[arg(long)]
        code: String,
        #[arg(long)]
        customer_no: String,
        /// Your reference; empty lets loket generate one.
        #[arg(long)]
        ref_id: Option<String>,
        /// Sandbox mode (`testing: true`).
        #[arg(long)]
        testing: bool,
    },
    /// cmd=pay-pasca for an inquiry's ref_id.
    Pay {
        #[command(flatten)]
        conn: IqConn,
        #[arg(long)]
        code: String,
        #[arg(long)]
        customer_no: String,
        #[arg(long)]
        ref_id: String,
        #[arg(long)]
        testing: bool,
    },
    /// cmd=status of a ref_id.
    Status {
        #[command(flatten)]
        conn: IqConn,
        #[arg(long)]
        ref_id: String,
        #[arg(long)]
        testing: bool,
    },
    /// POST /v1/balance.
    Balance {
        #[command(flatten)]
        conn: IqConn,
    },
}

fn iq_client(c: &IqConn) -> IsikuotaClient {
    IsikuotaClient::new(
        c.url.clone(),
        c.api_id.clone(),
        c.api_key.clone(),
        c.secret_key.clone(),
    )
}

fn print_iq(resp: &IsikuotaResponse) {
    match serde_json::to_string_pretty(&resp.json) {
        Ok(p) if !resp.json.is_null() => println!("{p}"),
        _ => println!("{}", resp.body.trim_end()),
    }
    if resp.http_status != 200 {
        eprintln!("HTTP {}", resp.http_status);
    }
}

async fn run_isikuota(call: &IsikuotaCall) -> Result<(), String> {
    let resp = match call {
        IsikuotaCall::Inquiry {
            conn,
            code,
            customer_no,
            ref_id,
            testing,
        } => {
            iq_client(conn)
                .inquiry(code, customer_no, ref_id.as_deref(), *testing)
                .await
        }
        IsikuotaCall::Pay {
            conn,
            code,
            customer_no,
            ref_id,
            testing,
        } => {
            iq_client(conn)
                .pay(code, customer_no, ref_id, *testing)
                .await
        }
        IsikuotaCall::Status {
            conn,
            ref_id,
            testing,
        } => iq_client(conn).status(ref_id, *testing).await,
        IsikuotaCall::Balance { conn } => iq_client(conn).balance().await,
    }
    .map_err(|e| e.to_string())?;
    print_iq(&resp);
    Ok(())
}

#[derive(Args, Clone)]
pub struct Conn {
    /// Base URL of the server.
    #[arg(long, env = "LOKET_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The member's username (phone number).
    #[arg(long, env = "LOKET_USERNAME")]
    username: String,
    /// The key that signs: dev_api_key (sandbox) or api_key (live).
    #[arg(long, env = "LOKET_KEY", hide_env_values = true)]
    key: String,
    /// Send XML instead of JSON.
    #[arg(long)]
    xml: bool,
}

#[derive(Subcommand)]
pub enum IakCall {
    /// inq-pasca: ask what a customer owes.
    Inquiry {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        code: String,
        #[arg(long)]
        hp: String,
        /// Your reference (default: a fresh one).
        #[arg(long)]
        ref_id: Option<String>,
        /// PBB tax year.
        #[arg(long)]
        year: Option<String>,
        /// BPJS months to pay.
        #[arg(long)]
        month: Option<String>,
        #[arg(long)]
        nomor_identitas: Option<String>,
        /// Custom amount (desc.amount).
        #[arg(long)]
        amount: Option<i64>,
    },
    /// pay-pasca: pay the quote named by tr_id.
    Pay {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        tr_id: i64,
    },
    /// checkstatus: the state of a ref_id's payment.
    Status {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        ref_id: String,
    },
    /// pricelist-pasca: the catalogue.
    Pricelist {
        #[command(flatten)]
        conn: Conn,
        /// Only this type (pln, pdam, bpjs, gas, pbb, ...).
        #[arg(long = "type")]
        kind: Option<String>,
        /// all | active | "non active"
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        province: Option<String>,
    },
    /// The receipt of a paid tr_id: JSON, or the PDF written to --out.
    Receipt {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        tr_id: i64,
        /// Write the PDF here instead of printing the JSON receipt.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

fn client(c: &Conn) -> IakClient {
    let format = if c.xml { Format::Xml } else { Format::Json };
    IakClient::new(c.url.clone(), c.username.clone(), c.key.clone()).with_format(format)
}

fn print(resp: &IakResponse) {
    let pretty = serde_json::from_str::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    match pretty {
        Some(p) => println!("{p}"),
        None => println!("{}", resp.body.trim_end()),
    }
    if resp.http_status != 200 {
        eprintln!("HTTP {}", resp.http_status);
    }
}

pub async fn run(cmd: &CallCommand) -> Result<(), String> {
    let call = match cmd {
        CallCommand::Iak(call) => call,
        CallCommand::Isikuota(call) => return run_isikuota(call).await,
    };
    let resp = match call {
        IakCall::Inquiry {
            conn,
            code,
            hp,
            ref_id,
            year,
            month,
            nomor_identitas,
            amount,
        } => {
            let params = InquiryParams {
                code: code.clone(),
                hp: hp.clone(),
                ref_id: ref_id
                    .clone()
                    .unwrap_or_else(|| format!("cli-{}", loket_store::random_hex(6))),
                year: year.clone(),
                month: month.clone(),
                nomor_identitas: nomor_identitas.clone(),
                amount: *amount,
            };
            client(conn).inquiry(&params).await
        }
        IakCall::Pay { conn, tr_id } => client(conn).pay(*tr_id).await,
        IakCall::Status { conn, ref_id } => client(conn).check_status(ref_id).await,
        IakCall::Pricelist {
            conn,
            kind,
            status,
            province,
        } => {
            client(conn)
                .pricelist(kind.as_deref(), status.as_deref(), province.as_deref())
                .await
        }
        IakCall::Receipt { conn, tr_id, out } => match out {
            Some(path) => {
                let (status, bytes) = client(conn)
                    .receipt_pdf(*tr_id)
                    .await
                    .map_err(|e| e.to_string())?;
                if status != 200 {
                    return Err(format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&bytes)
                    ));
                }
                std::fs::write(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                println!(
                    "{}",
                    serde_json::json!({"tr_id": tr_id, "pdf": path.display().to_string(), "bytes": bytes.len()})
                );
                return Ok(());
            }
            None => client(conn).receipt_json(*tr_id).await,
        },
    };
    let resp = resp.map_err(|e| e.to_string())?;
    print(&resp);
    Ok(())
}
