import { useState } from 'react';
import { PRESETS, customRange, isoDate } from './range.js';

/**
 * The date range: presets of 7, 30 and 90 days ending today, or a custom
 * range of dates (both included, UTC). `value` is `{ preset }` or
 * `{ first, last }`; `onChange` gets the same shapes.
 */
export default function RangePicker({ value, onChange }) {
  const [custom, setCustom] = useState(value.preset ? null : { first: value.first, last: value.last });
  const [error, setError] = useState(null);
  const today = isoDate(Date.now());

  const apply = (e) => {
    e.preventDefault();
    const r = customRange(custom.first, custom.last);
    if (r.error) {
      setError(r.error);
      return;
    }
    setError(null);
    onChange({ first: r.first, last: r.last });
  };

  return (
    <div className="dash-range" data-testid="range-picker">
      <div className="dash-presets" role="group" aria-label="Date range">
        {PRESETS.map((days) => (
          <button
            key={days}
            type="button"
            className={`dash-chip ${value.preset === days ? 'is-active' : ''}`}
            aria-pressed={value.preset === days}
            onClick={() => {
              setCustom(null);
              setError(null);
              onChange({ preset: days });
            }}
            data-testid="range-preset"
            data-days={days}
          >
            {days} days
          </button>
        ))}
        <button
          type="button"
          className={`dash-chip ${!value.preset ? 'is-active' : ''}`}
          aria-pressed={!value.preset}
          aria-expanded={!!custom}
          onClick={() => setCustom(custom ?? { first: value.first ?? today, last: value.last ?? today })}
          data-testid="range-custom"
        >
          Custom
        </button>
      </div>
      {custom && (
        <form className="dash-custom" onSubmit={apply} noValidate data-testid="range-form">
          <label>
            From
            <input
              type="date"
              value={custom.first}
              max={today}
              onChange={(e) => setCustom({ ...custom, first: e.target.value })}
              data-testid="range-from"
            />
          </label>
          <label>
            To
            <input
              type="date"
              value={custom.last}
              max={today}
              onChange={(e) => setCustom({ ...custom, last: e.target.value })}
              data-testid="range-to"
            />
          </label>
          <button type="submit" className="button button-primary button-small" data-testid="range-apply">
            Apply
          </button>
          {error && (
            <p className="form-error" role="alert" data-testid="range-error">
              {error}
            </p>
          )}
        </form>
      )}
    </div>
  );
}
