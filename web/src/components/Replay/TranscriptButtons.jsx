import { useState } from 'react';

const FORMATS = [
  { format: 'json', label: 'Transcript (JSON)', type: 'application/json', ext: 'json' },
  { format: 'html', label: 'Printable transcript (HTML)', type: 'text/html', ext: 'html' },
];

/** Saves `text` as a file named `name` (a link to a Blob, clicked). */
function save(text, name, type) {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Downloads the dispute transcript, exactly as the server answers it: the
 * JSON (every event with its hash, the final hash; verifiable offline) or the
 * printable HTML page.
 */
export default function TranscriptButtons({ source, conversationId }) {
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);

  const download = async ({ format, type, ext }) => {
    setBusy(format);
    setError(null);
    try {
      const text = await source.transcript(format);
      save(text, `souk-transcript-${conversationId}.${ext}`, type);
    } catch (e) {
      setError(`The transcript could not be downloaded: ${e.message}`);
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="replay-downloads">
      {FORMATS.map((f) => (
        <button
          key={f.format}
          type="button"
          className="button button-small"
          onClick={() => download(f)}
          disabled={busy !== null}
          data-testid={`download-${f.format}`}
        >
          <svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
            <path d="M12 4v11M7 10l5 5 5-5M5 20h14" />
          </svg>
          {busy === f.format ? 'Preparing…' : f.label}
        </button>
      ))}
      {error && (
        <p className="replay-error" role="alert" data-testid="download-error">
          {error}
        </p>
      )}
    </div>
  );
}
