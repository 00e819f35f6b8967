/** Three dots in a bubble while the other participant types. */
export default function TypingIndicator({ name }) {
  return (
    <div className="typing" data-testid="typing-indicator" role="status" aria-live="polite">
      <span className="typing-bubble" aria-hidden="true">
        <span />
        <span />
        <span />
      </span>
      <span className="typing-label">{name ? `${name} is typing…` : 'typing…'}</span>
    </div>
  );
}
