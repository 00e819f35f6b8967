import { ChatIcon } from './icons.jsx';
import ProductCard from './ProductCard.jsx';

/**
 * The customer's shop window: products with a "Chat with vendor" button each
 * (its accessible name says which product). Phones scroll it sideways; the
 * desktop column shows whole cards, two at a time.
 */
export default function ProductStrip({ products, onChat, busyId }) {
  if (!products || products.length === 0) return null;
  return (
    <section className="strip" aria-label="Products" data-testid="product-strip">
      <h2 className="strip-title">Discover</h2>
      <div className="strip-scroll">
        {products.map((p) => (
          <ProductCard key={p.id} product={p} variant="shop">
            <button
              type="button"
              className="button button-small button-primary"
              onClick={(e) => onChat(p, { focus: e.detail === 0 })}
              disabled={busyId === p.id}
              aria-label={busyId === p.id ? `Opening the chat about ${p.name}` : `Chat with vendor about ${p.name}`}
              data-testid="chat-with-vendor"
              data-product-id={p.id}
            >
              <ChatIcon />
              {busyId === p.id ? 'Opening…' : 'Chat with vendor'}
            </button>
          </ProductCard>
        ))}
      </div>
    </section>
  );
}
