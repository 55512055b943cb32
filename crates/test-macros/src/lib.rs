//! `#[each_backend]`: one test body, run once per database backend.
//!
//! ```text
//! use loket_test_macros::each_backend;
//!
//! #[each_backend]
//! async fn deposits_add_up() { /* test_database_url(...) answers this run's backend */ }
//!
//! #[each_backend(flavor = "multi_thread", worker_threads = 4)]
//! async fn concurrent_payments() { /* ... */ }
//!
//! #[each_backend]
//! fn the_binary_as_a_process() { /* sync tests too */ }
//! ```
//!
//! expands to the function itself (no longer a test) and a module of the same name with two
//! tests, `sqlite` and `postgres`, that run it through `loket_store::testing::run` with that
//! backend selected for the test's thread (`loket_store::testing::database_url` reads it). The
//! `postgres` test is `#[ignore]`d, with the reason, when `LOKET_TEST_DATABASE_URL` was not set
//! at build time; the expansion reads the variable with `option_env!` too, so cargo rebuilds the
//! tests when it changes.
//!
//! `#[postgres_only]` (same arguments): for the few tests that only mean something on
//! PostgreSQL (several loket processes on one database, a database that goes away). One test,
//! `NAME::postgres_only`, on a schema of its own; ignored with the reason without
//! `LOKET_TEST_DATABASE_URL`, except under `CI=true`, where it fails saying why.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{parse_macro_input, Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

const URL_VAR: &str = "LOKET_TEST_DATABASE_URL";

/// How an async test's runtime is built, from `flavor = ..., worker_threads = N`.
struct RuntimeArgs {
    multi_thread: bool,
    workers: Option<usize>,
}

fn parse_args(args: TokenStream, func: &ItemFn) -> syn::Result<RuntimeArgs> {
    let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse(args)?;
    let mut multi_thread = false;
    let mut workers: Option<usize> = None;
    for arg in &args {
        let key = arg
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let lit = match &arg.value {
            Expr::Lit(ExprLit { lit, .. }) => lit,
            other => return Err(syn::Error::new_spanned(other, "expected a literal")),
        };
        match (key.as_str(), lit) {
            ("flavor", Lit::Str(s)) if s.value() == "multi_thread" => multi_thread = true,
            ("flavor", Lit::Str(s)) if s.value() == "current_thread" => multi_thread = false,
            ("worker_threads", Lit::Int(n)) => workers = Some(n.base10_parse()?),
            _ => {
                return Err(syn::Error::new_spanned(
                    arg,
                    "expected flavor = \"multi_thread\" | \"current_thread\" or worker_threads = N",
                ))
            }
        }
    }
    if func.sig.asyncness.is_none() && (multi_thread || workers.is_some()) {
        return Err(syn::Error::new_spanned(
            &func.sig,
            "flavor and worker_threads need an async fn",
        ));
    }
    Ok(RuntimeArgs {
        multi_thread,
        workers,
    })
}

/// The call that runs `super::NAME` on `backend` (an identifier of `testing::Backend`).
fn run_call(func: &ItemFn, rt: &RuntimeArgs, backend: &str) -> proc_macro2::TokenStream {
    let name = &func.sig.ident;
    let testing = quote!(::loket_store::testing);
    let backend = format_ident!("{}", backend);
    if func.sig.asyncness.is_some() {
        let flavor = if rt.multi_thread {
            let n = rt.workers.unwrap_or(4);
            quote!(#testing::Flavor::MultiThread(#n))
        } else {
            quote!(#testing::Flavor::CurrentThread)
        };
        quote!(#testing::run(#testing::Backend::#backend, #flavor, super::#name))
    } else {
        quote!(#testing::run_sync(#testing::Backend::#backend, super::#name))
    }
}

fn url_set() -> bool {
    std::env::var_os(URL_VAR).is_some_and(|v| !v.is_empty())
}

#[proc_macro_attribute]
pub fn each_backend(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    let rt = match parse_args(args, &func) {
        Ok(rt) => rt,
        Err(e) => return e.to_compile_error().into(),
    };
    let name = &func.sig.ident;
    let on_sqlite = run_call(&func, &rt, "Sqlite");
    let on_postgres = run_call(&func, &rt, "Postgres");
    let ignore = if url_set() {
        quote!()
    } else {
        let reason = format!("{URL_VAR} is not set: not run on PostgreSQL");
        quote!(#[ignore = #reason])
    };
    quote! {
        #func

        #[doc = "The test above, once per database backend."]
        mod #name {
            #[test]
            fn sqlite() {
                #on_sqlite
            }

            #[test]
            #ignore
            fn postgres() {
                #on_postgres
            }

            // Read here so that cargo rebuilds the tests when the variable changes, and the
            // `ignore` above follows it.
            const _: ::core::option::Option<&str> = ::core::option_env!(#URL_VAR);
        }
    }
    .into()
}

/// `#[postgres_only]`: a test that only means something on PostgreSQL (several loket
/// processes on one database, a database that goes away). Runs as `NAME::postgres_only` on a
/// schema of its own, like the `postgres` half of `#[each_backend]` (and, being a different
/// name, is not counted as one). Without `LOKET_TEST_DATABASE_URL` at build time it is
/// `#[ignore]`d with the reason, unless `CI=true`: then it runs and fails, saying why.
#[proc_macro_attribute]
pub fn postgres_only(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    let rt = match parse_args(args, &func) {
        Ok(rt) => rt,
        Err(e) => return e.to_compile_error().into(),
    };
    let name = &func.sig.ident;
    let on_postgres = run_call(&func, &rt, "Postgres");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let (attrs, body) = if url_set() {
        (quote!(), on_postgres)
    } else if ci {
        let msg = format!(
            "CI=true but {URL_VAR} was not set when the tests were built: this PostgreSQL-only test must run in CI"
        );
        (
            quote!(),
            quote!({
                let _ = super::#name;
                panic!(#msg)
            }),
        )
    } else {
        let reason = format!("{URL_VAR} is not set: PostgreSQL-only test not run");
        (quote!(#[ignore = #reason]), on_postgres)
    };
    quote! {
        #func

        #[doc = "The test above, on PostgreSQL only."]
        mod #name {
            #[test]
            #attrs
            fn postgres_only() {
                #body
            }

            // Read here so that cargo rebuilds the tests when these change.
            const _: ::core::option::Option<&str> = ::core::option_env!(#URL_VAR);
            const _: ::core::option::Option<&str> = ::core::option_env!("CI");
        }
    }
    .into()
}
