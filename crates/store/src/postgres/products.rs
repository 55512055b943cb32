use super::{pg_err, transaction, PostgresStore, TxResult};
use crate::Result;
use deadpool_postgres::GenericClient;
use loket_core::catalogue::BillShape;
use loket_core::{ExtraField, Product, ProductStatus, Rupiah};
use std::sync::Arc;
use tokio_postgres::Row;

const COLUMNS: &str = "code, name, type, shape, admin, commission, biller_commission, status, province, fields, sandbox_prefix, sandbox_profile";

fn row_to_product(r: &Row) -> std::result::Result<Product, tokio_postgres::Error> {
    row_to_product_at(r, 0)
}

/// The product in [`COLUMNS`] order from column `at` on.
fn row_to_product_at(r: &Row, at: usize) -> std::result::Result<Product, tokio_postgres::Error> {
    let shape: String = r.try_get(at + 3)?;
    let status: String = r.try_get(at + 7)?;
    let fields: String = r.try_get(at + 9)?;
    Ok(Product {
        code: r.try_get(at)?,
        name: r.try_get(at + 1)?,
        kind: r.try_get(at + 2)?,
        shape: BillShape::parse(&shape).unwrap_or(BillShape::Telco),
        admin: Rupiah::new(r.try_get(at + 4)?),
        commission: Rupiah::new(r.try_get(at + 5)?),
        biller_commission: Rupiah::new(r.try_get(at + 6)?),
        status: ProductStatus::parse(&status).unwrap_or(ProductStatus::Inactive),
        province: r.try_get(at + 8)?,
        fields: fields.split(',').filter_map(ExtraField::parse).collect(),
        sandbox_prefix: r.try_get(at + 10)?,
        sandbox_profile: r.try_get(at + 11)?,
    })
}

/// Insert `p`; an existing product of the same code is replaced (`replace`) or kept. Answers the
/// rows written.
async fn put(c: &impl GenericClient, p: &Product, replace: bool) -> TxResult<u64> {
    let on_conflict = if replace {
        "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, type = EXCLUDED.type, shape = EXCLUDED.shape, admin = EXCLUDED.admin, commission = EXCLUDED.commission, biller_commission = EXCLUDED.biller_commission, status = EXCLUDED.status, province = EXCLUDED.province, fields = EXCLUDED.fields, sandbox_prefix = EXCLUDED.sandbox_prefix, sandbox_profile = EXCLUDED.sandbox_profile, updated_at = EXCLUDED.updated_at"
    } else {
        "ON CONFLICT (code) DO NOTHING"
    };
    let fields: Vec<&str> = p.fields.iter().map(|f| f.name()).collect();
    let st = c
        .prepare_cached(&format!(
            "INSERT INTO products ({COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) {on_conflict}"
        ))
        .await?;
    Ok(c.execute(
        &st,
        &[
            &p.code,
            &p.name,
            &p.kind,
            &p.shape.as_str(),
            &p.admin.get(),
            &p.commission.get(),
            &p.biller_commission.get(),
            &p.status.as_str(),
            &p.province,
            &fields.join(","),
            &p.sandbox_prefix,
            &p.sandbox_profile,
            &loket_core::jakarta::now(),
        ],
    )
    .await?)
}

impl PostgresStore {
    pub async fn load_catalogue(&self, products: Vec<Product>) -> Result<usize> {
        transaction!(self, |tx| {
            let mut added = 0usize;
            for p in &products {
                added += put(&tx, p, false).await? as usize;
            }
            added
        })
    }

    pub async fn put_product(&self, p: Product) -> Result<()> {
        transaction!(self, |tx| {
            put(&tx, &p, true).await?;
        })
    }

    /// The product `code`; for a protocol request, from the config cache (crate::config).
    pub async fn product(&self, code: &str) -> Result<Option<Arc<Product>>> {
        self.config_lookup(
            |cache| cache.products.get(code).cloned(),
            async |c| {
                // The version and the row in one statement (a row of NULLs for no product).
                let columns = super::each_column(COLUMNS, |c| format!("p.{c}"));
                let st = c
                    .prepare_cached(&format!(
                        "SELECT v.version, {columns} FROM config_version v LEFT JOIN products p ON p.code = $1 WHERE v.id = 1"
                    ))
                    .await?;
                let r = c.query_one(&st, &[&code]).await?;
                let product = match r.try_get::<_, Option<String>>(1)? {
                    Some(_) => Some(Arc::new(row_to_product_at(&r, 1)?)),
                    None => None,
                };
                Ok((r.try_get(0)?, product))
            },
            |cache, product| {
                cache.products.insert(code.to_string(), product);
            },
        )
        .await
    }

    pub async fn products(&self) -> Result<Vec<Product>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM products ORDER BY type, code"
            ))
            .await
            .map_err(pg_err)?;
        let rows = c.query(&st, &[]).await.map_err(pg_err)?;
        rows.iter()
            .map(row_to_product)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(pg_err)
    }
}
