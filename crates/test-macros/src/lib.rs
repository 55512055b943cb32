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

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{parse_macro_input, Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

const URL_VAR: &str = "LOKET_TEST_DATABASE_URL";

#[proc_macro_attribute]
pub fn each_backend(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    let args = match Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse(args) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
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
            other => {
                return syn::Error::new_spanned(other, "expected a literal")
                    .to_compile_error()
                    .into()
            }
        };
        match (key.as_str(), lit) {
            ("flavor", Lit::Str(s)) if s.value() == "multi_thread" => multi_thread = true,
            ("flavor", Lit::Str(s)) if s.value() == "current_thread" => multi_thread = false,
            ("worker_threads", Lit::Int(n)) => match n.base10_parse() {
                Ok(n) => workers = Some(n),
                Err(e) => return e.to_compile_error().into(),
            },
            _ => {
                return syn::Error::new_spanned(
                    arg,
                    "expected flavor = \"multi_thread\" | \"current_thread\" or worker_threads = N",
                )
                .to_compile_error()
                .into()
            }
        }
    }
    let is_async = func.sig.asyncness.is_some();
    if !is_async && (multi_thread || workers.is_some()) {
        return syn::Error::new_spanned(&func.sig, "flavor and worker_threads need an async fn")
            .to_compile_error()
            .into();
    }
    let name = &func.sig.ident;
    let testing = quote!(::loket_store::testing);
    let call = |backend: proc_macro2::Ident| {
        if is_async {
            let flavor = if multi_thread {
                let n = workers.unwrap_or(4);
                quote!(#testing::Flavor::MultiThread(#n))
            } else {
                quote!(#testing::Flavor::CurrentThread)
            };
            quote!(#testing::run(#testing::Backend::#backend, #flavor, super::#name))
        } else {
            quote!(#testing::run_sync(#testing::Backend::#backend, super::#name))
        }
    };
    let on_sqlite = call(format_ident!("Sqlite"));
    let on_postgres = call(format_ident!("Postgres"));
    let url_set = std::env::var_os(URL_VAR).is_some_and(|v| !v.is_empty());
    let ignore = if url_set {
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
