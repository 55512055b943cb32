//! The product catalogue: what can be inquired and paid, its fees, and how the sandbox answers it.
//! The project ships `catalogue/products.toml`; the store loads it on first start and the operator
//! edits products afterwards (`loket product ...`).

use crate::Rupiah;
use serde::{Deserialize, Serialize};

/// The catalogue that ships with loket.
pub const BUILTIN_TOML: &str = include_str!("../../../catalogue/products.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    Active,
    Inactive,
}

impl ProductStatus {
    /// IAK's price-list status: 1 active, 4 inactive.
    pub fn iak_code(self) -> i64 {
        match self {
            ProductStatus::Active => 1,
            ProductStatus::Inactive => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Active => "active",
            ProductStatus::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<ProductStatus> {
        match s {
            "active" => Some(ProductStatus::Active),
            "inactive" => Some(ProductStatus::Inactive),
            _ => None,
        }
    }
}

/// A request field that some products require beyond `code` and `hp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExtraField {
    /// `year`: PBB tax year.
    #[serde(rename = "year")]
    Year,
    /// `month`: BPJS months to pay.
    #[serde(rename = "month")]
    Month,
    /// `nomor_identitas`: ESAMSAT identity number.
    #[serde(rename = "nomor_identitas")]
    NomorIdentitas,
    /// `desc.amount`: custom-amount products.
    #[serde(rename = "desc.amount")]
    Amount,
}

impl ExtraField {
    /// The field's name as the IAK protocol spells it.
    pub fn name(self) -> &'static str {
        match self {
            ExtraField::Year => "year",
            ExtraField::Month => "month",
            ExtraField::NomorIdentitas => "nomor_identitas",
            ExtraField::Amount => "desc.amount",
        }
    }

    pub fn parse(s: &str) -> Option<ExtraField> {
        match s {
            "year" => Some(ExtraField::Year),
            "month" => Some(ExtraField::Month),
            "nomor_identitas" => Some(ExtraField::NomorIdentitas),
            "desc.amount" => Some(ExtraField::Amount),
            _ => None,
        }
    }
}

/// The shape of a product's bill (`desc`), which the sandbox generates; see `spec/sandbox.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BillShape {
    Pln,
    PlnNontaglist,
    Pbb,
    Pgas,
    Bpjs,
    Pdam,
    Telco,
    Internet,
}

impl BillShape {
    pub fn as_str(self) -> &'static str {
        match self {
            BillShape::Pln => "pln",
            BillShape::PlnNontaglist => "pln-nontaglist",
            BillShape::Pbb => "pbb",
            BillShape::Pgas => "pgas",
            BillShape::Bpjs => "bpjs",
            BillShape::Pdam => "pdam",
            BillShape::Telco => "telco",
            BillShape::Internet => "internet",
        }
    }

    pub fn parse(s: &str) -> Option<BillShape> {
        [
            BillShape::Pln,
            BillShape::PlnNontaglist,
            BillShape::Pbb,
            BillShape::Pgas,
            BillShape::Bpjs,
            BillShape::Pdam,
            BillShape::Telco,
            BillShape::Internet,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }
}

/// One product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// IAK product code, e.g. `PLNPOSTPAID`, `PBBKOT.CIMAHI`.
    pub code: String,
    pub name: String,
    /// IAK's price-list type (`pln`, `pdam`, `bpjs`, `gas`, `pbb`, ...), the `/{type}` filter.
    #[serde(rename = "type")]
    pub kind: String,
    /// Shape of the bill's `desc`.
    pub shape: BillShape,
    /// Admin fee per bill sheet.
    pub admin: Rupiah,
    /// The member's commission per bill sheet: `selling_price = price - commission`.
    pub commission: Rupiah,
    /// What the sandbox biller gives loket per bill sheet; the sandbox's cost for a bill is
    /// `price - biller_commission`, so `biller_commission - commission` is loket's revenue.
    #[serde(default)]
    pub biller_commission: Rupiah,
    pub status: ProductStatus,
    /// Province, for PDAM products (price-list `province` filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    /// Request fields this product requires.
    #[serde(default)]
    pub fields: Vec<ExtraField>,
    /// Sandbox rule-2 test prefix (`spec/sandbox.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_prefix: Option<String>,
    /// Which documented data set the sandbox answers for this product, when there is one
    /// (`plnnontag`, `pbb-cimahi`, `pgas`, `plnpostpaid`, `mpbpjs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_profile: Option<String>,
}

impl Product {
    pub fn requires(&self, field: ExtraField) -> bool {
        self.fields.contains(&field)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub products: Vec<Product>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    product: Vec<Product>,
}

impl Catalogue {
    pub fn from_toml(text: &str) -> Result<Catalogue, String> {
        let file: CatalogueFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let catalogue = Catalogue {
            products: file.product,
        };
        catalogue.check()?;
        Ok(catalogue)
    }

    pub fn builtin() -> Catalogue {
        Catalogue::from_toml(BUILTIN_TOML).expect("the shipped catalogue parses")
    }

    pub fn get(&self, code: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.code == code)
    }

    fn check(&self) -> Result<(), String> {
        let mut codes = std::collections::HashSet::new();
        for p in &self.products {
            if p.code.is_empty() || p.code.len() > 64 {
                return Err(format!("bad product code {:?}", p.code));
            }
            if !codes.insert(p.code.as_str()) {
                return Err(format!("duplicate product code {}", p.code));
            }
            if p.admin.is_negative()
                || p.commission.is_negative()
                || p.biller_commission.is_negative()
            {
                return Err(format!("{}: negative fee", p.code));
            }
            if let Some(prefix) = &p.sandbox_prefix {
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("{}: sandbox_prefix must be digits", p.code));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_has_every_sandbox_product() {
        let c = Catalogue::builtin();
        for code in [
            "PLNNONTAG",
            "PLNNONH",
            "PBBKOT.CIMAHI",
            "PGAS",
            "PLNPOSTPAID",
            "BPJS",
            "BPJSTK",
            "BPJSTKPU",
            "PDAMKOTA.SURABAYA",
            "PDAMKOTA.MEDAN",
            "AETRA",
            "MPBPJS",
        ] {
            assert!(c.get(code).is_some(), "{code} missing from catalogue");
        }
        assert!(c.get("PBBKOT.CIMAHI").unwrap().requires(ExtraField::Year));
        assert!(c.get("BPJS").unwrap().requires(ExtraField::Month));
        assert_eq!(
            c.get("PGAS").unwrap().sandbox_prefix.as_deref(),
            Some("011001")
        );
        for p in c.products.iter().filter(|p| p.kind == "pdam") {
            assert_eq!(p.sandbox_prefix.as_deref(), Some("1020"), "{}", p.code);
            assert!(p.province.is_some(), "{} needs a province", p.code);
        }
        assert!(c
            .products
            .iter()
            .any(|p| p.status == ProductStatus::Inactive));
    }

    #[test]
    fn rejects_duplicates_and_unknown_fields() {
        let one = r#"[[product]]
code = "X"
name = "X"
type = "pln"
shape = "pln"
admin = 1
commission = 0
status = "active"
"#;
        assert!(Catalogue::from_toml(one).is_ok());
        assert!(Catalogue::from_toml(&format!("{one}{one}"))
            .unwrap_err()
            .contains("duplicate"));
        assert!(Catalogue::from_toml(&one.replace("admin = 1", "admin = 1\nfoo = 2")).is_err());
        assert!(Catalogue::from_toml(&one.replace("admin = 1", "admin = -1")).is_err());
    }
}
