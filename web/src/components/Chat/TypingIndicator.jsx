/**
 * Three dots in a bubble while the other participant types. Screen readers
 * hear it from the conversation's status region (ChatWindow), which stays in
 * the page, so this one is not a live region of its own.
 */
export default function TypingIndicator({ name }) {
  return (
    <div className="typing" data-testid="typing-indicator">
      <span className="typing-bubble" aria-hidden="true">
        <span />
        <span />
        <span />
      </span>
      <span className="typing-label">{name ? `${name} is typing…` : 'typing…'}</span>
    </div>
  );
}
