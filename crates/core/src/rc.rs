//! The one response-code table. Every outcome loket reaches is an [`Rc`]; the IAK protocol writes
//! its code and message, the isikuota protocol writes the `isikuota` code and HTTP status of the
//! same row. Keep this the only place where codes are mapped.

/// What a client must conclude from a response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RcStatus {
    Success,
    Failed,
    Pending,
}

/// One row of the table.
#[derive(Debug)]
pub struct RcEntry {
    /// IAK's response code (a string: "00", "103").
    pub code: &'static str,
    /// IAK's message for the code.
    pub message: &'static str,
    pub status: RcStatus,
    /// isikuota's error code for the same outcome.
    pub isikuota: &'static str,
    /// HTTP status the isikuota protocol answers for a request refused with this outcome.
    pub isikuota_http: u16,
}

macro_rules! rc_table {
    ($( $variant:ident = $code:literal, $msg:literal, $status:ident, $iq:literal, $http:literal; )*) => {
        /// An outcome, named. See the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rc { $( $variant, )* }

        const TABLE: &[(Rc, RcEntry)] = &[
            $( (Rc::$variant, RcEntry { code: $code, message: $msg, status: RcStatus::$status, isikuota: $iq, isikuota_http: $http }), )*
        ];
    };
}

rc_table! {
    Success = "00", "SUCCESS", Success, "SUCCESS", 200;
    InvoiceHasBeenPaid = "01", "INVOICE HAS BEEN PAID", Failed, "BILL_ALREADY_PAID", 409;
    BillUnpaid = "02", "BILL UNPAID", Failed, "BILL_PAYMENT_FAILED", 200;
    InvalidRefId = "03", "INVALID REF ID", Failed, "VALIDATION_ERROR", 400;
    BillingIdExpired = "04", "BILLING ID EXPIRED", Failed, "INQUIRY_EXPIRED", 410;
    UndefinedError = "05", "UNDEFINED ERROR", Pending, "BILL_PAYMENT_PENDING", 200;
    InquiryIdNotFound = "06", "INQUIRY ID NOT FOUND", Failed, "INQUIRY_NOT_FOUND", 404;
    TransactionFailed = "07", "TRANSACTION FAILED", Failed, "BILL_PAYMENT_FAILED", 200;
    BillingIdBlocked = "08", "BILLING ID BLOCKED", Failed, "BILL_NOT_FOUND", 404;
    InquiryFailed = "09", "INQUIRY FAILED", Failed, "BILLER_ERROR", 502;
    BillNotAvailable = "10", "BILL IS NOT AVAILABLE", Failed, "BILL_NOT_FOUND", 404;
    DuplicateRefId = "11", "DUPLICATE REF ID", Failed, "DUPLICATE_REF_ID", 409;
    CustomerNumberBlocked = "13", "CUSTOMER NUMBER BLOCKED", Failed, "BILL_NOT_FOUND", 404;
    IncorrectDestinationNumber = "14", "INCORRECT DESTINATION NUMBER", Failed, "BILL_NOT_FOUND", 404;
    NumberNotSupported = "15", "NUMBER THAT YOU ENTERED IS NOT SUPPORTED", Failed, "BILL_NOT_FOUND", 404;
    NumberDoesntMatchOperator = "16", "NUMBER DOESN'T MATCH THE OPERATOR", Failed, "BILL_NOT_FOUND", 404;
    BalanceNotEnough = "17", "BALANCE NOT ENOUGH", Failed, "INSUFFICIENT_BALANCE", 422;
    ProductUnregistered = "20", "PRODUCT UNREGISTERED", Failed, "PRODUCT_NOT_FOUND", 404;
    PayViaCounter = "30", "PAYMENT HAVE TO BE DONE VIA COUNTER / PDAM", Failed, "BILLER_ERROR", 502;
    ExceedingMaxTotalBill = "31", "TRANSACTION REJECTED DUE TO EXCEEDING MAXIMAL TOTAL BILL ALLOWED", Failed, "BILLER_ERROR", 502;
    PayAllPeriods = "32", "TRANSACTION FAILED, PLEASE PAY BILL OF ALL PERIOD", Failed, "BILLER_ERROR", 502;
    TryAgainLater = "33", "TRANSACTION CAN'T BE PROCESS, PLEASE TRY AGAIN LATER", Failed, "BILLER_ERROR", 502;
    BillHasBeenPaid = "34", "BILL HAS BEEN PAID", Failed, "BILL_ALREADY_PAID", 409;
    AnotherUnpaidArrear = "35", "TRANSACTION REJECTED DUE TO ANOTHER UNPAID ARREAR", Failed, "BILLER_ERROR", 502;
    ExceedingDueDate = "36", "EXCEEDING DUE DATE, PLEASE PAY IN THE COUNTER / PDAM", Failed, "BILLER_ERROR", 502;
    PaymentFailed = "37", "PAYMENT FAILED", Failed, "BILL_PAYMENT_FAILED", 200;
    PaymentFailedRetry = "38", "PAYMENT FAILED, PLEASE DO ANOTHER REQUEST", Failed, "BILL_PAYMENT_FAILED", 200;
    Pending = "39", "PENDING / TRANSACTION IN PROCESS", Pending, "BILL_PAYMENT_PENDING", 200;
    ArrearAlreadyPaid = "40", "TRANSACTION REJECTED DUE TO ALL OR ONE OF THE ARREAR/INVOICE HAS BEEN PAID", Failed, "BILL_ALREADY_PAID", 409;
    PayToCompany = "41", "CAN'T BE PAID IN COUNTER, PLEASE PAY TO THE CORRESPONDING COMPANY", Failed, "BILLER_ERROR", 502;
    PaymentRequestNotReceived = "42", "PAYMENT REQUEST HAVEN'T BEEN RECEIVED", Failed, "INQUIRY_NOT_FOUND", 404;
    DatabaseError = "91", "DATABASE CONNECTION ERROR", Failed, "INTERNAL_ERROR", 500;
    GeneralError = "92", "GENERAL ERROR", Failed, "INTERNAL_ERROR", 500;
    InvalidAmount = "93", "INVALID AMOUNT", Failed, "VALIDATION_ERROR", 400;
    ServiceExpired = "94", "SERVICE HAS EXPIRED", Failed, "PRODUCT_UNAVAILABLE", 503;
    InvalidSignature = "100", "INVALID SIGNATURE", Failed, "INVALID_SIGNATURE", 401;
    InvalidCommand = "101", "INVALID COMMAND", Failed, "VALIDATION_ERROR", 400;
    InvalidIpAddress = "102", "INVALID IP ADDRESS", Failed, "IP_NOT_ALLOWED", 403;
    Timeout = "103", "TIMEOUT", Failed, "BILLER_TIMEOUT", 504;
    BillerSystemError = "105", "MISC ERROR / BILLER SYSTEM ERROR", Failed, "BILLER_ERROR", 502;
    ProductOutOfService = "106", "PRODUCT IS TEMPORARILY OUT OF SERVICE", Failed, "PRODUCT_UNAVAILABLE", 503;
    FormatError = "107", "XML FORMAT ERROR", Failed, "VALIDATION_ERROR", 400;
    IdNotAllowedForProduct = "108", "SORRY, YOUR ID CAN'T BE USED FOR THIS PRODUCT TRANSACTION", Failed, "PRODUCT_UNAVAILABLE", 403;
    SystemCutOff = "109", "SYSTEM CUT OFF", Failed, "PRODUCT_UNAVAILABLE", 503;
    Maintenance = "110", "SYSTEM UNDER MAINTENANCE", Failed, "PRODUCT_UNAVAILABLE", 503;
    PageNotFound = "117", "PAGE NOT FOUND", Failed, "INQUIRY_NOT_FOUND", 404;
    AccountSuspended = "118", "ACCOUNT SUSPENDED", Failed, "ACCOUNT_SUSPENDED", 403;
    UndefinedResponseCode = "201", "UNDEFINED RESPONSE CODE", Pending, "BILL_PAYMENT_PENDING", 200;
}

impl Rc {
    pub fn entry(self) -> &'static RcEntry {
        // The table is in declaration order, so the discriminant indexes it.
        let (rc, entry) = &TABLE[self as usize];
        debug_assert_eq!(*rc, self);
        entry
    }

    pub fn code(self) -> &'static str {
        self.entry().code
    }

    pub fn message(self) -> &'static str {
        self.entry().message
    }

    pub fn status(self) -> RcStatus {
        self.entry().status
    }

    /// The row whose IAK code is `code` exactly ("01", not "1").
    pub fn from_code(code: &str) -> Option<Rc> {
        TABLE
            .iter()
            .find(|(_, e)| e.code == code)
            .map(|(rc, _)| *rc)
    }

    /// The row for a three-digit number as the sandbox's RC-encoded rule writes it: `001` is RC 01,
    /// `103` is RC 103. `None` when no such code exists.
    pub fn from_three_digits(xyz: u16) -> Option<Rc> {
        if xyz >= 1000 {
            return None;
        }
        let code = if xyz < 100 {
            format!("{xyz:02}")
        } else {
            xyz.to_string()
        };
        Rc::from_code(&code)
    }

    pub fn all() -> impl Iterator<Item = Rc> {
        TABLE.iter().map(|(rc, _)| *rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_discriminant() {
        for (i, (rc, _)) in TABLE.iter().enumerate() {
            assert_eq!(*rc as usize, i);
        }
    }

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for rc in Rc::all() {
            assert!(seen.insert(rc.code()), "duplicate code {}", rc.code());
            assert_eq!(Rc::from_code(rc.code()), Some(rc));
        }
        assert_eq!(seen.len(), 48);
    }

    #[test]
    fn three_digit_rule() {
        assert_eq!(Rc::from_three_digits(1), Some(Rc::InvoiceHasBeenPaid));
        assert_eq!(
            Rc::from_three_digits(14),
            Some(Rc::IncorrectDestinationNumber)
        );
        assert_eq!(Rc::from_three_digits(103), Some(Rc::Timeout));
        assert_eq!(Rc::from_three_digits(37), Some(Rc::PaymentFailed));
        assert_eq!(Rc::from_three_digits(12), None);
        assert_eq!(Rc::from_three_digits(104), None);
        assert_eq!(Rc::from_three_digits(999), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(Rc::Pending.status(), RcStatus::Pending);
        assert_eq!(Rc::UndefinedError.status(), RcStatus::Pending);
        assert_eq!(Rc::UndefinedResponseCode.status(), RcStatus::Pending);
        assert_eq!(Rc::Success.status(), RcStatus::Success);
        assert_eq!(Rc::PaymentFailed.status(), RcStatus::Failed);
        assert_eq!(Rc::Success.entry().isikuota_http, 200);
        assert_eq!(Rc::InvalidSignature.entry().isikuota, "INVALID_SIGNATURE");
    }
}
