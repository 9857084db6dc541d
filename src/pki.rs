//! Certificates: a self-signed CA and a leaf for a tls secret's hosts (rcgen). Generated once; the
//! leaf is re-issued under the kept CA key only when its hosts change.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::spec::model::KeyKind;

/// The files of a tls secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca_crt: String,
    pub ca_key: String,
    pub tls_crt: String,
    pub tls_key: String,
    /// The hosts the leaf was issued for, one a line (kept to notice a change).
    pub hosts: String,
}

/// CA validity: long, since re-issuing it means re-distributing trust.
const CA_DAYS: i64 = 3650;

fn key_pair(kind: KeyKind) -> Result<KeyPair, rcgen::Error> {
    match kind {
        KeyKind::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyKind::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        KeyKind::Rsa4096 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
        }
    }
}

fn ca_params(name: &str, now: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{name} CA (misp-gen)"));
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now - Duration::minutes(5);
    p.not_after = now + Duration::days(CA_DAYS);
    p
}

/// Make a new CA and leaf.
///
/// # Errors
/// Key generation or signing failed.
pub fn generate(name: &str, hosts: &[String], days: u32, kind: KeyKind) -> Result<Tls, String> {
    let now = OffsetDateTime::now_utc();
    let ca_key = key_pair(kind).map_err(|e| format!("cannot generate a CA key: {e}"))?;
    let params = ca_params(name, now);
    let ca = params
        .self_signed(&ca_key)
        .map_err(|e| format!("cannot sign the CA: {e}"))?;
    let ca_crt = ca.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(params, ca_key);
    let (tls_crt, tls_key) = leaf(hosts, days, kind, &issuer, now)?;
    Ok(Tls {
        ca_crt,
        ca_key: ca_key_pem,
        tls_crt,
        tls_key,
        hosts: hosts_text(hosts),
    })
}

/// Issue a new leaf for `hosts` under an existing CA (cert and key in PEM).
///
/// # Errors
/// The kept CA cannot be read, or signing failed.
pub fn reissue(existing: &Tls, hosts: &[String], days: u32, kind: KeyKind) -> Result<Tls, String> {
    let ca_key = KeyPair::from_pem(&existing.ca_key)
        .map_err(|e| format!("cannot read the kept CA key: {e}"))?;
    let issuer = Issuer::from_ca_cert_pem(&existing.ca_crt, ca_key)
        .map_err(|e| format!("cannot read the kept CA certificate: {e}"))?;
    let (tls_crt, tls_key) = leaf(hosts, days, kind, &issuer, OffsetDateTime::now_utc())?;
    Ok(Tls {
        ca_crt: existing.ca_crt.clone(),
        ca_key: existing.ca_key.clone(),
        tls_crt,
        tls_key,
        hosts: hosts_text(hosts),
    })
}

fn leaf(
    hosts: &[String],
    days: u32,
    kind: KeyKind,
    issuer: &Issuer<'_, KeyPair>,
    now: OffsetDateTime,
) -> Result<(String, String), String> {
    let key = key_pair(kind).map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        hosts.first().cloned().unwrap_or_default(),
    );
    p.distinguished_name = dn;
    for h in hosts {
        let san = match h.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                h.clone()
                    .try_into()
                    .map_err(|_| format!("`{h}` is not a valid DNS name for a certificate"))?,
            ),
        };
        p.subject_alt_names.push(san);
    }
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now - Duration::minutes(5);
    p.not_after = now + Duration::days(i64::from(days));
    let cert = p
        .signed_by(&key, issuer)
        .map_err(|e| format!("cannot sign the certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The hosts as kept beside the leaf.
#[must_use]
pub fn hosts_text(hosts: &[String]) -> String {
    let mut s = hosts.join("\n");
    s.push('\n');
    s
}
