//! The suite runs on the backend it says it does. `.ci/run` looks for this test's `postgres` half
//! in the output: with `LOKET_TEST_DATABASE_URL` set, it must have run and passed.

use crate::helpers::*;
use loket_store::testing::{self, Backend};

#[each_backend]
async fn the_suite_runs_on_the_selected_backend() {
    let app = spawn_app().await;
    let backend = testing::backend();
    assert_eq!(app.store.backend(), backend.name());
    if backend == Backend::Postgres {
        assert!(
            testing::postgres_url().is_some(),
            "{} is set",
            testing::URL_VAR
        );
    }
    app.assert_alive().await;
    // Each test has a database of its own: another test's member is not there.
    let other = spawn_app().await;
    let m = app.create_member("081200009999").await;
    assert!(other
        .store
        .member_by_username("081200009999")
        .await
        .unwrap()
        .is_none());
    let again = other.create_member("081200009999").await;
    assert_eq!(again.username, m.username);
    assert_ne!(again.api_key, m.api_key);
}
