import { useId } from 'react';

/**
 * A chart with its title, a one-line reading of it, and the same figures as
 * a table (for screen readers and for anyone who wants the numbers). The
 * drawing itself is hidden from assistive technology: the table says it all.
 */
export default function ChartCard({ title, summary, testId, columns, rows, children, height = 240 }) {
  const id = useId();
  return (
    <section className="dash-card" aria-labelledby={`${id}-title`} data-testid={testId}>
      <figure className="dash-figure">
        <figcaption>
          <h2 id={`${id}-title`}>{title}</h2>
          {summary && <p className="muted dash-reading">{summary}</p>}
        </figcaption>
        <div className="dash-chart" style={{ height }} aria-hidden="true" data-testid="chart">
          {children}
        </div>
        <details className="dash-table-toggle">
          <summary>Show as a table</summary>
          <div className="dash-table-scroll">
            <table className="dash-table" data-testid="chart-table">
              <caption className="sr-only">{title}</caption>
              <thead>
                <tr>
                  {columns.map((c, i) => (
                    <th key={c} scope="col" className={i > 0 ? 'num' : undefined}>
                      {c}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.key} data-key={r.key}>
                    {r.cells.map((cell, i) =>
                      i === 0 ? (
                        <th key={i} scope="row">
                          {cell}
                        </th>
                      ) : (
                        <td key={i} className="num">
                          {cell}
                        </td>
                      ),
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      </figure>
    </section>
  );
}
