import { formatClock } from '../../utils/format.js';
import { Ticks } from './icons.jsx';
import MessageText from './MessageText.jsx';
import ProductCard from './ProductCard.jsx';

/**
 * One message. Mine sit on the right with their state: a clock while sending,
 * one tick once recorded, two blue ticks once the other side has read it
 * (`readAt`), and a retry button when sending failed.
 */
export default function MessageBubble({ message, mine, grouped, onRetry, onDiscard }) {
  const pending = message.status === 'sending' || message.status === 'failed';
  const state = message.status ?? (message.readAt ? 'read' : 'sent');
  const isProduct = message.kind === 'product' && message.product;
  return (
    <div
      className={`msg ${mine ? 'msg-mine' : 'msg-theirs'} ${grouped ? 'msg-grouped' : ''} ${isProduct ? 'msg-product' : ''} ${
        message.status === 'failed' ? 'msg-is-failed' : ''
      }`}
      data-testid="message"
      data-message-id={message.id ?? ''}
      data-client-id={message.clientMessageId ?? ''}
      data-seq={message.seq ?? ''}
      data-mine={mine ? 'true' : 'false'}
      data-status={mine ? state : 'received'}
    >
      <div className="msg-bubble">
        {mine && <span className="sr-only">You said: </span>}
        {isProduct && <ProductCard product={message.product} variant="bubble" testId="message-product" />}
        {message.text && (
          <p className="msg-text" data-testid="message-text">
            <MessageText text={message.text} />
          </p>
        )}
        <span className="msg-meta">
          <time dateTime={message.sentAt} title={message.sentAt ? new Date(message.sentAt).toLocaleString() : ''}>
            {formatClock(message.sentAt)}
          </time>
          {mine && <Ticks state={state} />}
        </span>
      </div>
      {message.status === 'failed' && (
        <div className={`msg-failed ${message.retryable !== false ? 'is-waiting' : ''}`} data-testid="message-failed">
          <span>
            {message.retryable !== false
              ? 'Not sent yet: it goes out as soon as the connection is back.'
              : `Not sent: ${message.error ?? 'refused by the server'}.`}
          </span>
          {message.retryable !== false && (
            <button type="button" className="link-button" onClick={onRetry} data-testid="retry-button">
              Retry
            </button>
          )}
          <button type="button" className="link-button" onClick={onDiscard}>
            Discard
          </button>
        </div>
      )}
      {pending && message.status === 'sending' && <span className="sr-only">Sending</span>}
    </div>
  );
}
