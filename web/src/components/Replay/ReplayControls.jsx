import { useEffect } from 'react';
import { stepTo } from './events.js';

const icon = (d) => (
  <svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
    <path d={d} />
  </svg>
);

const STEPS = [
  { how: 'first', label: 'First event', key: 'Home', icon: icon('M6 5v14M18 6l-7 6 7 6') },
  { how: 'previous', label: 'Previous event', key: '←', icon: icon('M15 6l-6 6 6 6') },
  { how: 'next', label: 'Next event', key: '→', icon: icon('M9 6l6 6-6 6') },
  { how: 'last', label: 'Latest event', key: 'End', icon: icon('M18 5v14M6 6l7 6-7 6') },
];

/** Keys that move through the history when the focus is not in a field. */
const KEYS = { ArrowLeft: 'previous', ArrowRight: 'next', Home: 'first', End: 'last' };

function inField(target) {
  const tag = target?.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || target?.isContentEditable;
}

/**
 * The slider over the stream's revisions (0 to `last`) and the step buttons;
 * the arrow keys, Home and End step too. `current` says in words what the
 * event shown is, in a live region for screen readers.
 */
export default function ReplayControls({ at, last, onMove, current, busy }) {
  useEffect(() => {
    const onKey = (e) => {
      const how = KEYS[e.key];
      if (!how || e.altKey || e.ctrlKey || e.metaKey || inField(e.target)) return;
      e.preventDefault();
      onMove(stepTo(at, last, how));
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [at, last, onMove]);

  return (
    <div className="replay-controls" aria-busy={busy ? 'true' : 'false'}>
      <div className="replay-slider-row">
        <label htmlFor="replay-slider" className="replay-slider-label">
          Event <b data-testid="replay-position">{at + 1}</b> of <span data-testid="replay-count">{last + 1}</span>
        </label>
        <input
          id="replay-slider"
          type="range"
          min={0}
          max={last}
          step={1}
          value={at}
          onChange={(e) => onMove(Number(e.target.value))}
          aria-valuetext={`Event ${at + 1} of ${last + 1}: ${current}`}
          data-testid="replay-slider"
        />
      </div>
      <div className="replay-steps" role="group" aria-label="Step through the history">
        {STEPS.map((s) => {
          const to = stepTo(at, last, s.how);
          return (
            <button
              key={s.how}
              type="button"
              className="button button-small replay-step"
              onClick={() => onMove(to)}
              disabled={to === at}
              aria-label={s.label}
              title={`${s.label} (${s.key})`}
              data-testid={`replay-${s.how}`}
            >
              {s.icon}
              <span className="replay-step-text" aria-hidden="true">
                {s.label}
              </span>
            </button>
          );
        })}
      </div>
      <p className="replay-current" aria-live="polite" aria-atomic="true" data-testid="replay-current">
        {busy ? <span className="spinner" aria-hidden="true" /> : null}
        {current}
      </p>
    </div>
  );
}
