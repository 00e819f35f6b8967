// What the dashboard's charts share: colours (AA against white, and told
// apart by more than hue: the table and the legend name them) and axis style.

export const RECEIVED = '#0f766e';
export const SENT = '#4338ca';
export const P50 = '#0f766e';
export const P90 = '#b45309';
export const AXIS = { stroke: '#94a3b8', tick: { fill: '#475569', fontSize: 12 } };
export const GRID = '#e2e8f0';
