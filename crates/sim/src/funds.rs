//! Money in and out of accounts: deposits, borrowing, repaying, interest, AUTO_REPAY, and the
//! margin level checks that follow every change.

use rust_decimal::Decimal;
use std::collections::BTreeSet;
use userstream_protocol::events::MarginLevelStatus;
use userstream_protocol::rest::{MaxBorrowable, Transaction};
use userstream_protocol::{Account, Scope};

use crate::engine::{AccountEvent, BorrowRepay, Out, Simulator};
use crate::error::SimError;
use crate::events::{balance_update, code, liability_change, margin_level_change};
use crate::margin::{NO_DEBT_LEVEL, status};
use crate::num::{MAX_AMOUNT, mul, q8, text};

/// One hour in microseconds: Binance charges margin interest hourly.
pub const HOUR_US: i64 = 3_600_000_000;

impl Simulator {
    /// Checks that `asset` belongs to the account: any traded asset for cross, the pair's base
    /// or quote for isolated.
    pub(crate) fn check_asset(&self, account: &Account, asset: &str) -> Result<(), SimError> {
        match &account.scope {
            Scope::Cross => {
                if self
                    .config
                    .symbols
                    .iter()
                    .any(|r| r.base == asset || r.quote == asset)
                {
                    Ok(())
                } else {
                    Err(SimError::InvalidMarginAsset)
                }
            }
            Scope::Isolated(symbol) => {
                let rules = self.rules(symbol).ok_or(SimError::BadSymbol)?;
                if rules.base == asset || rules.quote == asset {
                    Ok(())
                } else {
                    Err(SimError::InvalidMarginAsset)
                }
            }
        }
    }

    fn check_amount(amount: Decimal) -> Result<(), SimError> {
        if amount <= Decimal::ZERO || amount > MAX_AMOUNT || q8(amount) != amount {
            return Err(SimError::InvalidParam("amount"));
        }
        Ok(())
    }

    /// Funds an account (deposit into cross, or transfer into an isolated pair's asset):
    /// balanceUpdate then outboundAccountPosition.
    pub fn deposit(
        &mut self,
        account: &Account,
        asset: &str,
        amount: Decimal,
        now_us: i64,
    ) -> Result<Vec<AccountEvent>, SimError> {
        self.check_asset(account, asset)?;
        Self::check_amount(amount)?;
        let mut out = Out::default();
        let ledger = self.ledger_mut(account);
        ledger.entry(asset).free += amount;
        ledger.updated_us = now_us;
        out.push(account, balance_update(asset, amount, now_us));
        self.position(account, [asset.to_owned()], now_us, &mut out);
        self.check_margin(account, now_us, &mut out);
        Ok(out.events)
    }

    /// `POST /sapi/v1/margin/borrow-repay`: outboundAccountPosition then USER_LIABILITY_CHANGE.
    /// A repayment pays interest first, then principal.
    pub fn borrow_repay(
        &mut self,
        account: &Account,
        asset: &str,
        amount: Decimal,
        kind: BorrowRepay,
        now_us: i64,
    ) -> Result<(Transaction, Vec<AccountEvent>), SimError> {
        self.check_asset(account, asset)?;
        Self::check_amount(amount)?;
        let mut out = Out::default();
        match kind {
            BorrowRepay::Borrow => {
                let ledger = self.ledger(account);
                let max = self.valuer().max_borrowable(
                    &ledger,
                    asset,
                    self.leverage(account),
                    &self.config,
                );
                if amount > max {
                    return Err(SimError::ExceedMaxBorrowable);
                }
                self.take_loan(account, asset, amount, now_us);
                self.position(account, [asset.to_owned()], now_us, &mut out);
                out.liability(
                    account,
                    liability_change(asset, "BORROW", amount, Decimal::ZERO, now_us),
                );
            }
            BorrowRepay::Repay => {
                let balance = self.ledger(account).get(asset);
                if amount > balance.liability() {
                    return Err(SimError::RepayExceedsLiability);
                }
                if amount > balance.free {
                    return Err(SimError::RepayBalance);
                }
                let (principal, interest) = self.repay(account, asset, amount, now_us);
                self.position(account, [asset.to_owned()], now_us, &mut out);
                out.liability(
                    account,
                    liability_change(asset, "REPAY", principal, interest, now_us),
                );
            }
        }
        self.check_margin(account, now_us, &mut out);
        let tran_id = self.next_tran_id();
        Ok((Transaction { tran_id }, out.events))
    }

    /// Pays `amount` of debt from the free balance, interest first; (principal, interest) paid.
    fn repay(
        &mut self,
        account: &Account,
        asset: &str,
        amount: Decimal,
        now_us: i64,
    ) -> (Decimal, Decimal) {
        let ledger = self.ledger_mut(account);
        ledger.updated_us = now_us;
        let balance = ledger.entry(asset);
        let interest = amount.min(balance.interest);
        let principal = (amount - interest).min(balance.borrowed);
        balance.interest -= interest;
        balance.borrowed -= principal;
        balance.free -= interest + principal;
        if balance.borrowed.is_zero() && balance.interest.is_zero() {
            balance.interest_hour = None;
        }
        (principal, interest)
    }

    /// AUTO_REPAY: repays debt of the received asset from a fill's proceeds.
    pub(crate) fn auto_repay(
        &mut self,
        account: &Account,
        asset: &str,
        received: Decimal,
        now_us: i64,
        out: &mut Out,
    ) {
        let balance = self.ledger(account).get(asset);
        let amount = received.min(balance.liability()).min(balance.free);
        if amount <= Decimal::ZERO {
            return;
        }
        let (principal, interest) = self.repay(account, asset, amount, now_us);
        self.position(account, [asset.to_owned()], now_us, out);
        out.liability(
            account,
            liability_change(asset, "REPAY", principal, interest, now_us),
        );
    }

    /// `autoRepayAtCancel`: a canceled order that borrowed (MARGIN_BUY, AUTO_BORROW_REPAY)
    /// repays its loan, as far as the debt and the free balance allow: outboundAccountPosition
    /// then USER_LIABILITY_CHANGE REPAY, after the cancel's own events.
    pub(crate) fn repay_at_cancel(&mut self, order_id: i64, now_us: i64, out: &mut Out) {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return;
        };
        let loan = std::mem::take(&mut order.borrowed);
        if !order.repay_at_cancel || loan <= Decimal::ZERO {
            return;
        }
        let (account, asset) = (order.account.clone(), order.lock_asset.clone());
        self.auto_repay(&account, &asset, loan, now_us, out);
    }

    /// `GET /sapi/v1/margin/maxBorrowable`.
    pub fn max_borrowable(
        &self,
        account: &Account,
        asset: &str,
    ) -> Result<MaxBorrowable, SimError> {
        self.check_asset(account, asset)?;
        let ledger = self.ledger(account);
        let amount =
            self.valuer()
                .max_borrowable(&ledger, asset, self.leverage(account), &self.config);
        Ok(MaxBorrowable {
            amount: text(amount),
            borrow_limit: text(self.config.borrow_limit),
        })
    }

    /// Charges hourly interest on borrowed assets (Binance charges at each hour); the server
    /// calls this on a timer. Each whole hour since the loan (or the last charge) costs
    /// borrowed × the asset's hourly rate; each charge is a USER_LIABILITY_CHANGE `INTEREST`.
    pub fn accrue_interest(&mut self, now_us: i64) -> Vec<AccountEvent> {
        let hour = now_us.div_euclid(HOUR_US);
        let mut out = Out::default();
        let accounts: Vec<Account> = self.accounts.keys().cloned().collect();
        for account in accounts {
            let mut charged = Vec::new();
            let rates: Vec<(String, Decimal)> = self
                .ledger(&account)
                .assets
                .keys()
                .map(|asset| (asset.clone(), self.config.hourly_rate(asset)))
                .collect();
            let ledger = self.ledger_mut(&account);
            for (asset, rate) in rates {
                let balance = ledger.entry(&asset);
                if balance.borrowed <= Decimal::ZERO {
                    continue;
                }
                let since = balance.interest_hour.unwrap_or(hour);
                let hours = hour.saturating_sub(since);
                balance.interest_hour = Some(hour.max(since));
                if hours <= 0 {
                    continue;
                }
                let charge = q8(mul(mul(balance.borrowed, rate), Decimal::from(hours)));
                if charge <= Decimal::ZERO {
                    continue;
                }
                balance.interest += charge;
                charged.push((asset, charge));
            }
            for (asset, charge) in charged {
                out.liability(
                    &account,
                    liability_change(&asset, "INTEREST", Decimal::ZERO, charge, now_us),
                );
            }
            self.check_margin(&account, now_us, &mut out);
        }
        out.events
    }

    /// MARGIN_LEVEL_STATUS_CHANGE when a cross account's margin level crossed a threshold.
    pub(crate) fn check_margin(&mut self, account: &Account, now_us: i64, out: &mut Out) {
        if account.scope != Scope::Cross || !self.accounts.contains_key(account) {
            return;
        }
        let ledger = self.ledger(account);
        let level = self.valuer().level(&ledger);
        let now = status(level, &self.config);
        let before = ledger
            .status
            .clone()
            .unwrap_or_else(|| code(MarginLevelStatus::parse, "EXCESSIVE"));
        if now != before {
            out.push(
                account,
                margin_level_change(level.unwrap_or(NO_DEBT_LEVEL), now.clone(), now_us),
            );
        }
        self.ledger_mut(account).status = Some(now);
    }

    /// [`Simulator::check_margin`] for every cross account.
    pub(crate) fn check_all_margins(&mut self, now_us: i64, out: &mut Out) {
        let accounts: BTreeSet<Account> = self
            .accounts
            .keys()
            .filter(|a| a.scope == Scope::Cross)
            .cloned()
            .collect();
        for account in accounts {
            self.check_margin(&account, now_us, out);
        }
    }
}
