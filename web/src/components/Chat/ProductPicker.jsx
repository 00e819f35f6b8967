import { useRef, useState } from 'react';
import { useDialogFocus } from '../../utils/focus.js';
import { CloseIcon } from './icons.jsx';
import ProductCard, { toWireProduct } from './ProductCard.jsx';

/**
 * Shares a product into the chat: pick one of the offered products (the
 * conversation's own product first), or describe one by hand; an optional
 * caption goes with it. A modal dialog for the keyboard: it takes focus
 * (itself, so a phone does not open its keyboard over it), keeps Tab inside,
 * closes with Escape and gives focus back to its opener.
 */
export default function ProductPicker({ products, onShare, onClose }) {
  const [caption, setCaption] = useState('');
  const [custom, setCustom] = useState(products.length === 0);
  const [form, setForm] = useState({ name: '', price: '', currency: 'EUR', imageUrl: '', url: '' });
  const [error, setError] = useState(null);
  const ref = useRef(null);
  useDialogFocus(ref, onClose, 'dialog');

  const share = (product) => {
    onShare(toWireProduct(product), caption.trim() || undefined);
  };

  const shareCustom = (e) => {
    e.preventDefault();
    const name = form.name.trim();
    if (!name) return setError('A product needs a name.');
    let priceMinor;
    if (form.price.trim()) {
      const n = Number(form.price.replace(',', '.'));
      if (!Number.isFinite(n) || n < 0) return setError('The price is not a number.');
      priceMinor = Math.round(n * 100);
    }
    const currency = form.currency.trim().toUpperCase();
    if (priceMinor !== undefined && !/^[A-Z]{3}$/.test(currency)) return setError('Currency: three letters, e.g. EUR.');
    setError(null);
    share({
      id: `custom-${Date.now().toString(36)}`,
      name,
      priceMinor,
      currency: priceMinor !== undefined ? currency : undefined,
      imageUrl: form.imageUrl.trim() || undefined,
      url: form.url.trim() || undefined,
    });
  };

  return (
    <div
      className="picker"
      data-testid="product-picker"
      role="dialog"
      aria-modal="true"
      aria-labelledby="picker-title"
      tabIndex={-1}
      ref={ref}
    >
      <div className="picker-head">
        <h2 className="picker-title" id="picker-title">
          Share a product
        </h2>
        <button type="button" className="icon-button" onClick={onClose} aria-label="Close" data-testid="picker-close">
          <CloseIcon />
        </button>
      </div>
      <input
        className="picker-caption"
        placeholder="Add a caption (optional)"
        aria-label="Caption (optional)"
        value={caption}
        onChange={(e) => setCaption(e.target.value)}
        maxLength={4000}
        data-testid="share-caption"
      />
      {!custom && (
        <div className="picker-grid">
          {products.map((p) => (
            <button
              type="button"
              key={p.id}
              className="picker-item"
              onClick={() => share(p)}
              data-testid="share-product"
              data-product-id={p.id}
            >
              <ProductCard product={p} variant="tile" testId="picker-product" />
            </button>
          ))}
        </div>
      )}
      {custom && (
        <form className="picker-form" onSubmit={shareCustom}>
          <input placeholder="Product name" aria-label="Product name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
          <div className="picker-row">
            <input placeholder="Price, e.g. 49.99" aria-label="Price" inputMode="decimal" value={form.price} onChange={(e) => setForm({ ...form, price: e.target.value })} />
            <input placeholder="EUR" aria-label="Currency" maxLength={3} value={form.currency} onChange={(e) => setForm({ ...form, currency: e.target.value })} />
          </div>
          <input placeholder="Image URL (https://…)" aria-label="Image URL" value={form.imageUrl} onChange={(e) => setForm({ ...form, imageUrl: e.target.value })} />
          <input placeholder="Product page URL (https://…)" aria-label="Product page URL" value={form.url} onChange={(e) => setForm({ ...form, url: e.target.value })} />
          {error && <p className="form-error">{error}</p>}
          <button type="submit" className="button button-primary">
            Share
          </button>
        </form>
      )}
      {products.length > 0 && (
        <button type="button" className="link-button picker-toggle" onClick={() => setCustom(!custom)}>
          {custom ? 'Pick from the catalogue' : 'Describe another product'}
        </button>
      )}
    </div>
  );
}
