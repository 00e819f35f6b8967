import { useEffect, useRef } from 'react';
import { describeEvent, shortHash } from './events.js';
import { revealWithin } from './scroll.js';

export function formatWhen(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/**
 * Every recorded event of the conversation, oldest first: what happened in
 * words, who, when, its revision and log position, and its hash (short, the
 * full one on hover and when expanded). Support staff's accesses stand out.
 * Picking an event shows the conversation as it was just after it.
 */
export default function Timeline({ events, names, at, onPick }) {
  const listRef = useRef(null);
  const currentRef = useRef(null);
  useEffect(() => {
    revealWithin(listRef.current, currentRef.current);
  }, [at, events]);

  return (
    <ol className="timeline" ref={listRef} data-testid="timeline" aria-label="Recorded events">
      {events.map((e) => {
        const d = describeEvent(e, names);
        const current = e.revision === at;
        return (
          <li
            key={e.revision}
            ref={current ? currentRef : undefined}
            className={`tl-item tl-${d.kind} ${current ? 'is-current' : ''} ${e.revision > at ? 'is-after' : ''}`}
            data-testid="timeline-event"
            data-revision={e.revision}
            data-type={e.type}
            aria-current={current ? 'step' : undefined}
          >
            <button type="button" className="tl-main" onClick={() => onPick(e.revision)} data-testid="timeline-pick">
              <span className="tl-title" data-testid="timeline-title">
                {d.kind === 'support' && (
                  <span className="tl-support-tag" aria-hidden="true">
                    Support
                  </span>
                )}
                {d.title}
              </span>
              {d.detail && <span className="tl-detail">{d.detail}</span>}
              <span className="tl-meta">
                <time dateTime={e.recordedAt}>{formatWhen(e.recordedAt)}</time>
                <span>revision {e.revision}</span>
                <span>position {e.position}</span>
              </span>
            </button>
            <details className="tl-hash">
              <summary title={e.hash ?? ''}>
                <span className="sr-only">Hash </span>
                <code data-testid="timeline-hash">{shortHash(e.hash)}</code>
              </summary>
              <code className="tl-hash-full" data-testid="timeline-hash-full">
                {e.hash ?? 'no hash recorded'}
              </code>
            </details>
          </li>
        );
      })}
    </ol>
  );
}
