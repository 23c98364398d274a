//! Authentication and sessions with Nakama's rules, on an injected clock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use kaosnet::accounts::{Accounts, Credential};
use kaosnet::session::SessionConfig;
use kaosnet::store::{MemoryStore, SqliteStore, Store, UserKey};
use kaosnet::Code;

static NOW: AtomicI64 = AtomicI64::new(1_000_000);

fn now() -> i64 {
    NOW.load(Ordering::Relaxed)
}

/// The sessions test moves its own clock, so the others never see it jump.
static SESSION_NOW: AtomicI64 = AtomicI64::new(1_000_000);

fn session_now() -> i64 {
    SESSION_NOW.load(Ordering::Relaxed)
}

fn accounts(store: Arc<dyn Store>) -> Accounts {
    Accounts::with_clock(store, SessionConfig::default(), now)
}

fn none() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[test]
fn device_accounts_are_created_on_first_use_only_when_asked() {
    let a = accounts(Arc::new(MemoryStore::new()));
    let device = || Credential::Device("device-0123456789".into());
    let missing = a.authenticate(device(), false, None, &none()).unwrap_err();
    assert_eq!((missing.code, missing.message.as_str()), (Code::NotFound, "User account not found."));
    let first = a.authenticate(device(), true, Some("alice"), &none()).unwrap();
    assert!(first.created);
    assert_eq!(first.user.username, "alice");
    let again = a.authenticate(device(), true, Some("ignored"), &none()).unwrap();
    assert!(!again.created);
    assert_eq!(again.user.id, first.user.id);
    assert_eq!(a.verify(&again.tokens.token).unwrap().uid, first.user.id);
    // A generated username when none is given; a taken one is refused.
    let other = a.authenticate(Credential::Device("device-other-01".into()), true, None, &none()).unwrap();
    assert_eq!(other.user.username.len(), 10);
    let taken = a.authenticate(Credential::Device("device-third-01".into()), true, Some("ALICE"), &none());
    assert_eq!(taken.unwrap_err().code, Code::AlreadyExists);
    for bad in ["short", &"x".repeat(129)] {
        let e = a.authenticate(Credential::Device(bad.to_string()), true, None, &none()).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{bad}");
    }
    let e = a.authenticate(device(), true, Some("has space"), &none()).unwrap_err();
    assert_eq!(e.code, Code::InvalidArgument);
}

#[test]
fn email_accounts_check_the_password_and_store_only_its_hash() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let a = accounts(store.clone());
    let cred = |p: &str| Credential::Email { email: "Player@Example.com".into(), password: p.into() };
    let created = a.authenticate(cred("correct horse"), true, None, &none()).unwrap();
    assert!(created.created);
    let stored = store.user(UserKey::Email("player@example.com")).unwrap().unwrap();
    let hash = stored.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("correct horse"), "{hash}");
    assert_eq!(a.authenticate(cred("correct horse"), false, None, &none()).unwrap().user.id, created.user.id);
    let wrong = a.authenticate(cred("wrong password"), true, None, &none()).unwrap_err();
    assert_eq!((wrong.code, wrong.message.as_str()), (Code::Unauthenticated, "Invalid credentials."));
    assert_eq!(a.authenticate(cred("short"), true, None, &none()).unwrap_err().code, Code::InvalidArgument);
    for email in ["no-at-sign.example.com", "a@b", "x@nodot", "bad space@example.com"] {
        let e = a.authenticate(
            Credential::Email { email: email.into(), password: "password1".into() },
            true,
            None,
            &none(),
        );
        assert_eq!(e.unwrap_err().code, Code::InvalidArgument, "{email}");
    }
}

#[test]
fn custom_ids_have_their_length_rule() {
    let a = accounts(Arc::new(MemoryStore::new()));
    assert!(a.authenticate(Credential::Custom("abcdef".into()), true, None, &none()).unwrap().created);
    assert_eq!(
        a.authenticate(Credential::Custom("abcde".into()), true, None, &none()).unwrap_err().code,
        Code::InvalidArgument
    );
}

#[test]
fn sessions_expire_refresh_and_log_out() {
    let a = Accounts::with_clock(Arc::new(MemoryStore::new()), SessionConfig::default(), session_now);
    let vars = BTreeMap::from([("platform".to_string(), "web".to_string())]);
    let s = a.authenticate(Credential::Custom("custom-1".into()), true, Some("bob"), &vars).unwrap();
    let t0 = session_now();
    assert_eq!(a.verify(&s.tokens.token).unwrap().vrs, vars);
    SESSION_NOW.store(t0 + 61, Ordering::Relaxed);
    assert_eq!(a.verify(&s.tokens.token).unwrap_err().code, Code::Unauthenticated);
    // The refresh token is good for an hour and keeps the variables.
    let fresh = a.refresh(&s.tokens.refresh_token, None).unwrap();
    let claims = a.verify(&fresh.token).unwrap();
    assert_eq!((claims.usn.as_str(), claims.vrs.clone()), ("bob", vars));
    // Logout revokes both tokens.
    a.logout(&fresh.token, Some(&fresh.refresh_token)).unwrap();
    assert_eq!(a.verify(&fresh.token).unwrap_err().code, Code::Unauthenticated);
    assert_eq!(a.refresh(&fresh.refresh_token, None).unwrap_err().code, Code::Unauthenticated);
    // An unrevoked refresh token still works until it expires.
    assert!(a.refresh(&s.tokens.refresh_token, None).is_ok());
    SESSION_NOW.store(t0 + 3601, Ordering::Relaxed);
    assert_eq!(a.refresh(&s.tokens.refresh_token, None).unwrap_err().code, Code::Unauthenticated);
    SESSION_NOW.store(t0, Ordering::Relaxed);
}

#[test]
fn credentials_link_and_unlink_but_the_last_stays() {
    let a = accounts(Arc::new(SqliteStore::in_memory().unwrap()));
    let alice = a.authenticate(Credential::Device("alice-device-1".into()), true, Some("alice"), &none()).unwrap();
    let bob = a.authenticate(Credential::Device("bob-device-01".into()), true, Some("bob"), &none()).unwrap();
    let (alice_id, bob_id) = (alice.user.id, bob.user.id);
    a.link(&alice_id, Credential::Device("alice-device-2".into())).unwrap();
    a.link(&alice_id, Credential::Email { email: "alice@example.com".into(), password: "password123".into() }).unwrap();
    let by_second = a.authenticate(Credential::Device("alice-device-2".into()), false, None, &none()).unwrap();
    assert_eq!(by_second.user.id, alice_id);
    let by_email = Credential::Email { email: "ALICE@example.com".into(), password: "password123".into() };
    assert_eq!(a.authenticate(by_email, false, None, &none()).unwrap().user.id, alice_id);
    // Another account's credential cannot be taken.
    let e = a.link(&bob_id, Credential::Device("alice-device-1".into())).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (Code::AlreadyExists, "Device ID already in use."));
    // Bob's only credential stays; one he does not hold cannot be unlinked.
    assert_eq!(
        a.unlink(&bob_id, Credential::Device("bob-device-01".into())).unwrap_err().code,
        Code::FailedPrecondition
    );
    assert_eq!(
        a.unlink(&bob_id, Credential::Device("alice-device-1".into())).unwrap_err().code,
        Code::FailedPrecondition
    );
    a.unlink(&alice_id, Credential::Device("alice-device-1".into())).unwrap();
    let gone = a.authenticate(Credential::Device("alice-device-1".into()), false, None, &none()).unwrap_err();
    assert_eq!(gone.code, Code::NotFound);
    a.unlink(&alice_id, Credential::Email { email: "alice@example.com".into(), password: String::new() }).unwrap();
    assert_eq!(
        a.unlink(&alice_id, Credential::Device("alice-device-2".into())).unwrap_err().code,
        Code::FailedPrecondition
    );
}

/// Names that would look like another or turn the text around them: refused at sign-up
/// and on an account update alike (one rule for both).
#[test]
fn usernames_refuse_control_bidi_and_invisible_characters() {
    let a = accounts(Arc::new(MemoryStore::new()));
    let made = a.authenticate(Credential::Device("device-names-001".into()), true, Some("plain"), &none()).unwrap();
    let bad = [
        "tab\tname",
        "bell\u{7}",
        "admin\u{202E}nimda",
        "rlm\u{200F}",
        "isolate\u{2066}x\u{2069}",
        "zero\u{200B}width",
        "bom\u{FEFF}",
        "alm\u{061C}",
    ];
    for (i, name) in bad.iter().enumerate() {
        let device = Credential::Device(format!("device-names-1{i:02}"));
        let e = a.authenticate(device, true, Some(name), &none()).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{name:?}");
        let update = kaosnet::accounts::AccountUpdate { username: Some(name.to_string()), ..Default::default() };
        assert_eq!(a.update_account(&made.user.id, update).unwrap_err().code, Code::InvalidArgument, "{name:?}");
    }
    // Names in any script stay welcome.
    for (i, name) in ["Zoë", "玩家一", "игрок", "لاعب"].iter().enumerate() {
        let device = Credential::Device(format!("device-names-2{i:02}"));
        assert_eq!(a.authenticate(device, true, Some(name), &none()).unwrap().user.username, *name);
    }
}

/// The password guesser's clock, moved by its test alone.
static GUESS_NOW: AtomicI64 = AtomicI64::new(1_000_000);

fn guess_now() -> i64 {
    GUESS_NOW.load(Ordering::Relaxed)
}

/// 100 wrong guesses at one account, one a second (from any number of addresses: the count
/// is the account's): after five free ones each failure locks password sign-in twice as
/// long as the last, so only a dozen are checked at all; the right password waits too.
#[test]
fn failed_password_sign_ins_lock_the_account_for_longer_each_time() {
    let a = Accounts::with_clock(Arc::new(MemoryStore::new()), SessionConfig::default(), guess_now);
    let cred = |p: &str| Credential::Email { email: "target@example.com".into(), password: p.into() };
    let id = a.authenticate(cred("the right one"), true, None, &none()).unwrap().user.id;
    let (mut checked, mut refused) = (0, 0);
    for _ in 0..100 {
        match a.authenticate(cred("a wrong guess"), false, None, &none()).unwrap_err().code {
            Code::Unauthenticated => checked += 1,
            Code::ResourceExhausted => refused += 1,
            other => panic!("{other:?}"),
        }
        GUESS_NOW.fetch_add(1, Ordering::Relaxed);
    }
    // Locked at 5, 6, 8, 12, 20, 36 and 68 s (for 1, 2, 4 … 64 s): 12 guesses checked.
    assert_eq!((checked, refused), (12, 88));
    // Still locked (until 132 s): the right password is refused unchecked.
    let e = a.authenticate(cred("the right one"), false, None, &none()).unwrap_err();
    assert_eq!(e.code, Code::ResourceExhausted);
    // Once the lock is over it signs in, and the count starts again.
    GUESS_NOW.store(1_000_000 + 132, Ordering::Relaxed);
    assert_eq!(a.authenticate(cred("the right one"), false, None, &none()).unwrap().user.id, id);
    for _ in 0..5 {
        let e = a.authenticate(cred("a wrong guess"), false, None, &none()).unwrap_err();
        assert_eq!(e.code, Code::Unauthenticated, "the free failures are back");
    }
}

/// Revocations are answered from memory, survive a restart (read back from the store),
/// and are dropped once their tokens have expired.
#[test]
fn logged_out_tokens_stay_refused_across_a_restart_until_they_expire() {
    static T: AtomicI64 = AtomicI64::new(1_000_000);
    fn t() -> i64 {
        T.load(Ordering::Relaxed)
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let a = Accounts::with_clock(store.clone(), SessionConfig::default(), t);
    let s = a.authenticate(Credential::Device("device-revoke-01".into()), true, None, &none()).unwrap().tokens;
    let kept = a.authenticate(Credential::Device("device-revoke-02".into()), true, None, &none()).unwrap().tokens;
    a.logout(&s.token, Some(&s.refresh_token)).unwrap();
    assert_eq!(a.verify(&s.token).unwrap_err().code, Code::Unauthenticated);
    assert_eq!(a.refresh(&s.refresh_token, None).unwrap_err().code, Code::Unauthenticated);
    assert!(a.verify(&kept.token).is_ok(), "other tokens stay good");
    // A restarted server reads the revocations back.
    let b = Accounts::with_clock(store.clone(), SessionConfig::default(), t);
    assert_eq!(b.verify(&s.token).unwrap_err().code, Code::Unauthenticated);
    // Past both tokens' expiry, the next logout drops their revocations from the store.
    T.fetch_add(SessionConfig::default().refresh_token_expiry_sec + 120, Ordering::Relaxed);
    let later = b.authenticate(Credential::Device("device-revoke-03".into()), true, None, &none()).unwrap().tokens;
    b.logout(&later.token, None).unwrap();
    let mut held: Vec<String> = store.revoked_tokens(t()).unwrap().into_iter().map(|(tid, _)| tid).collect();
    held.sort();
    assert_eq!(held.len(), 1, "only the new revocation is left: {held:?}");
    assert!(!store.is_revoked(&b.sessions().decode(&s.token, 1_000_000).unwrap().tid).unwrap());
}
