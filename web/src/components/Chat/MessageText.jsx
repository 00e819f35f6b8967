import { splitLinks } from '../../utils/links.js';

/** Message text with its http(s) URLs as links that open in a new tab. */
export default function MessageText({ text }) {
  return splitLinks(text).map((part, i) =>
    part.type === 'link' ? (
      <a key={i} className="msg-link" href={part.href} target="_blank" rel="noopener noreferrer" data-testid="message-link">
        {part.text}
      </a>
    ) : (
      part.text
    ),
  );
}
