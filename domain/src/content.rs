//! What a message carries: text, a product card, or both.

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::InputError;
use crate::ids::ProductId;
use crate::text::{self, Lines};

/// Message text: 1 to 4000 characters after trimming, CRLF line breaks
/// stored as LF, and only characters people can read ([`text::check`]:
/// no control characters but newline and tab, no bidirectional overrides,
/// not only invisible characters).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MessageText(String);

impl MessageText {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(s: &str) -> Result<Self, InputError> {
        let normalized = text::normalize_newlines(s);
        let t = normalized.trim();
        if t.is_empty() {
            return Err(InputError::new("text", "must not be empty"));
        }
        if t.chars().count() > Self::MAX_CHARS {
            return Err(InputError::new("text", "must be at most 4000 characters"));
        }
        text::check("text", t, Lines::Many)?;
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for MessageText {
    /// Events written by earlier versions are read as recorded, without
    /// re-validation: the log is never rewritten when a limit changes.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(String::deserialize(d)?))
    }
}

/// A product card shown in a conversation or a message.
///
/// Bounds: `name` 1..200 characters, `currency` three capital letters,
/// `priceMinor` 0..=10^15, URLs `http(s)://` and at most 2048 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductCard {
    pub id: ProductId,
    pub name: String,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub image_url: Option<String>,
    pub url: Option<String>,
}

/// The fields of a product card as they arrive, before checking.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductCardInput {
    pub id: String,
    pub name: String,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub image_url: Option<String>,
    pub url: Option<String>,
}

impl ProductCard {
    pub const MAX_NAME_CHARS: usize = 200;
    pub const MAX_URL_CHARS: usize = 2048;
    pub const MAX_PRICE_MINOR: i64 = 1_000_000_000_000_000;

    /// Checks every field; `prefix` names the card on the wire (`product`).
    pub fn parse(prefix: &str, input: ProductCardInput) -> Result<Self, InputError> {
        let field = |f: &str| format!("{prefix}.{f}");
        let id = ProductId::parse(&input.id).map_err(|e| InputError::new(field("id"), e.reason))?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > Self::MAX_NAME_CHARS {
            return Err(InputError::new(
                field("name"),
                "must be 1 to 200 characters",
            ));
        }
        text::check(&field("name"), name, Lines::One)?;
        if let Some(p) = input.price_minor {
            if !(0..=Self::MAX_PRICE_MINOR).contains(&p) {
                return Err(InputError::new(
                    field("priceMinor"),
                    "must be between 0 and 10^15",
                ));
            }
        }
        if let Some(c) = &input.currency {
            if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(InputError::new(
                    field("currency"),
                    "must be a three-letter ISO 4217 code such as EUR",
                ));
            }
        }
        for (name, url) in [("imageUrl", &input.image_url), ("url", &input.url)] {
            if let Some(u) = url {
                let ok_scheme = u.starts_with("https://") || u.starts_with("http://");
                if !ok_scheme
                    || u.chars().count() > Self::MAX_URL_CHARS
                    || u.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(InputError::new(
                        field(name),
                        "must be an http(s) URL of at most 2048 characters",
                    ));
                }
            }
        }
        Ok(Self {
            id,
            name: name.to_owned(),
            price_minor: input.price_minor,
            currency: input.currency,
            image_url: input.image_url,
            url: input.url,
        })
    }
}

/// The content of a message: text, a product card with an optional caption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageContent {
    Text(MessageText),
    Product {
        product: ProductCard,
        caption: Option<MessageText>,
    },
}

impl MessageContent {
    /// Builds the content from the optional parts of a send; at least one is
    /// needed.
    pub fn from_parts(
        text: Option<MessageText>,
        product: Option<ProductCard>,
    ) -> Result<Self, InputError> {
        match (text, product) {
            (text, Some(product)) => Ok(Self::Product {
                product,
                caption: text,
            }),
            (Some(text), None) => Ok(Self::Text(text)),
            (None, None) => Err(InputError::new("text", "a message needs text or a product")),
        }
    }

    /// `text` or `product`, as on the wire.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Text(_) => MessageKind::Text,
            Self::Product { .. } => MessageKind::Product,
        }
    }

    pub fn text(&self) -> Option<&MessageText> {
        match self {
            Self::Text(t) => Some(t),
            Self::Product { caption, .. } => caption.as_ref(),
        }
    }

    pub fn product(&self) -> Option<&ProductCard> {
        match self {
            Self::Text(_) => None,
            Self::Product { product, .. } => Some(product),
        }
    }
}

/// The kind of a message on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Product,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> ProductCardInput {
        ProductCardInput {
            id: "p-1".into(),
            name: "Red bike".into(),
            price_minor: Some(49_999),
            currency: Some("EUR".into()),
            image_url: Some("https://img.example/p-1.jpg".into()),
            url: None,
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(MessageText::parse("  hi  ").unwrap().as_str(), "hi");
        assert!(MessageText::parse(" \n\t ").is_err());
        assert!(MessageText::parse(&"ü".repeat(4000)).is_ok());
        assert!(MessageText::parse(&"ü".repeat(4001)).is_err());
        let padded = format!("  {}  ", "a".repeat(4000));
        assert!(MessageText::parse(&padded).is_ok());
    }

    #[test]
    fn product_cards_are_bounded_field_by_field() {
        assert!(ProductCard::parse("product", card()).is_ok());
        let bad = |f: fn(&mut ProductCardInput)| {
            let mut c = card();
            f(&mut c);
            ProductCard::parse("product", c).unwrap_err().field
        };
        assert_eq!(bad(|c| c.id = "".into()), "product.id");
        assert_eq!(bad(|c| c.name = " ".into()), "product.name");
        assert_eq!(bad(|c| c.name = "n".repeat(201)), "product.name");
        assert_eq!(bad(|c| c.price_minor = Some(-1)), "product.priceMinor");
        assert_eq!(bad(|c| c.currency = Some("eur".into())), "product.currency");
        assert_eq!(
            bad(|c| c.image_url = Some("javascript:alert(1)".into())),
            "product.imageUrl"
        );
        assert_eq!(
            bad(|c| c.url = Some(format!("https://{}", "a".repeat(2048)))),
            "product.url"
        );
    }

    #[test]
    fn content_needs_text_or_product() {
        let text = MessageText::parse("hi").unwrap();
        let product = ProductCard::parse("product", card()).unwrap();
        assert_eq!(
            MessageContent::from_parts(Some(text.clone()), None)
                .unwrap()
                .kind(),
            MessageKind::Text
        );
        let both = MessageContent::from_parts(Some(text), Some(product)).unwrap();
        assert_eq!(both.kind(), MessageKind::Product);
        assert_eq!(both.text().unwrap().as_str(), "hi");
        assert!(MessageContent::from_parts(None, None).is_err());
    }
}
