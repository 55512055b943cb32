use super::{db_err, exec, query_row, SqliteStore};
use crate::Result;
use loket_core::catalogue::BillShape;
use loket_core::{ExtraField, Product, ProductStatus, Rupiah};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::sync::Arc;

const COLUMNS: &str = "code, name, type, shape, admin, commission, biller_commission, status, province, fields, sandbox_prefix, sandbox_profile";

fn row_to_product(r: &Row<'_>) -> rusqlite::Result<Product> {
    let shape: String = r.get(3)?;
    let status: String = r.get(7)?;
    let fields: String = r.get(9)?;
    Ok(Product {
        code: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        shape: BillShape::parse(&shape).unwrap_or(BillShape::Telco),
        admin: Rupiah::new(r.get(4)?),
        commission: Rupiah::new(r.get(5)?),
        biller_commission: Rupiah::new(r.get(6)?),
        status: ProductStatus::parse(&status).unwrap_or(ProductStatus::Inactive),
        province: r.get(8)?,
        fields: fields.split(',').filter_map(ExtraField::parse).collect(),
        sandbox_prefix: r.get(10)?,
        sandbox_profile: r.get(11)?,
    })
}

fn put(c: &Connection, p: &Product, replace: bool) -> rusqlite::Result<usize> {
    let verb = if replace {
        "INSERT OR REPLACE"
    } else {
        "INSERT OR IGNORE"
    };
    let fields: Vec<&str> = p.fields.iter().map(|f| f.name()).collect();
    exec(c,
        &format!("{verb} INTO products ({COLUMNS}, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
        params![
            p.code,
            p.name,
            p.kind,
            p.shape.as_str(),
            p.admin.get(),
            p.commission.get(),
            p.biller_commission.get(),
            p.status.as_str(),
            p.province,
            fields.join(","),
            p.sandbox_prefix,
            p.sandbox_profile,
            loket_core::jakarta::now()
        ],
    )
}

impl SqliteStore {
    pub async fn load_catalogue(&self, products: Vec<Product>) -> Result<usize> {
        self.write(move |c| {
            let mut added = 0;
            for p in &products {
                added += put(c, p, false).map_err(db_err)?;
            }
            Ok(added)
        })
        .await
    }

    pub async fn put_product(&self, p: Product) -> Result<()> {
        self.write(move |c| put(c, &p, true).map(|_| ()).map_err(db_err))
            .await
    }

    pub async fn product(&self, code: &str) -> Result<Option<Arc<Product>>> {
        if let Some(hit) = self.cached(|cache| cache.products.get(code).cloned()) {
            return Ok(hit);
        }
        self.with_config(|c, cache| {
            if let Some(hit) = cache.products.get(code) {
                return Ok(hit.clone());
            }
            let product = query_row(
                c,
                &format!("SELECT {COLUMNS} FROM products WHERE code = ?1"),
                [code],
                row_to_product,
            )
            .optional()
            .map_err(db_err)?
            .map(Arc::new);
            cache.products.insert(code.to_string(), product.clone());
            Ok(product)
        })
    }

    pub async fn products(&self) -> Result<Vec<Product>> {
        self.read(|c| {
            let mut st = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM products ORDER BY type, code"
                ))
                .map_err(db_err)?;
            let rows = st.query_map([], row_to_product).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
        .await
    }
}
