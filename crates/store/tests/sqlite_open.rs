//! Several handles (processes, in production) opening a brand-new SQLite file at the same moment
//! all succeed: the first open sets WAL and migrates while the others wait or retry.

use loket_store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_opens_of_a_new_file_all_succeed() {
    for round in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/fresh.db", dir.path().display());
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Store::open(&url).await.map(|_| ()) })
            })
            .collect();
        for open in opens {
            let result = open.await.unwrap();
            assert!(result.is_ok(), "round {round}: {:?}", result.err());
        }
        // And the schema is there once: a member can be created.
        let store = Store::open(&url).await.unwrap();
        store
            .create_member(loket_store::new_keys("081299990001", "x"))
            .await
            .unwrap();
    }
}
