import { formatPrice } from '../../utils/format.js';
import { BagIcon } from './icons.jsx';

/** A product's picture, or a neutral placeholder when it has none or fails to load. */
export function ProductImage({ product, className = '' }) {
  if (!product?.imageUrl) {
    return (
      <span className={`product-img product-img-empty ${className}`}>
        <BagIcon />
      </span>
    );
  }
  return (
    <img
      className={`product-img ${className}`}
      src={product.imageUrl}
      alt=""
      loading="lazy"
      onError={(e) => {
        e.currentTarget.style.visibility = 'hidden';
      }}
    />
  );
}

/**
 * A product card: image, name, price (from priceMinor + currency). `variant`
 * is `bubble` (inside a message), `tile` (the share picker, the sign-in page)
 * or `shop` (the customer's product strip, with an action).
 */
export default function ProductCard({ product, variant = 'bubble', children, testId = 'product-card' }) {
  if (!product) return null;
  const price = formatPrice(product.priceMinor, product.currency);
  const body = (
    <>
      <ProductImage product={product} />
      <span className="product-info">
        <span className="product-name" data-testid="product-name">
          {product.name}
        </span>
        {price && (
          <span className="product-price" data-testid="product-price">
            {price}
          </span>
        )}
        {product.vendorName && (variant === 'tile' || variant === 'shop') && (
          <span className="product-vendor">{product.vendorName}</span>
        )}
        {variant === 'shop' && children}
      </span>
    </>
  );
  const cls = `product-card product-card-${variant}`;
  if (variant === 'bubble' && product.url) {
    return (
      <a className={cls} href={product.url} target="_blank" rel="noreferrer" data-testid={testId} data-product-id={product.id}>
        {body}
        {children}
      </a>
    );
  }
  return (
    <div className={cls} data-testid={testId} data-product-id={product.id}>
      {body}
      {variant !== 'shop' && children}
    </div>
  );
}

/** The fields of a product card as the server takes them (absolute URLs). */
export function toWireProduct(product) {
  const abs = (u) => {
    if (!u) return undefined;
    try {
      return new URL(u, window.location.origin).href;
    } catch {
      return undefined;
    }
  };
  const card = { id: String(product.id), name: product.name };
  if (typeof product.priceMinor === 'number') card.priceMinor = product.priceMinor;
  if (product.currency) card.currency = product.currency;
  const imageUrl = abs(product.imageUrl);
  if (imageUrl) card.imageUrl = imageUrl;
  const url = abs(product.url);
  if (url) card.url = url;
  return card;
}
