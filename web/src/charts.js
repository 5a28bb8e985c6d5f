// ECharts, with only the parts the views use. Tooltips render as rich text on the canvas, not as
// HTML, so names from a database cannot become markup there either.
import * as echarts from 'echarts/core';
import { BarChart, LineChart, ScatterChart, CustomChart } from 'echarts/charts';
import {
  GridComponent, TooltipComponent, LegendComponent, MarkAreaComponent, MarkLineComponent,
  TitleComponent, DataZoomComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { el } from './util.js';

echarts.use([BarChart, LineChart, ScatterChart, CustomChart, GridComponent, TooltipComponent,
  LegendComponent, MarkAreaComponent, MarkLineComponent, TitleComponent, DataZoomComponent,
  CanvasRenderer]);

const live = new Set();

export function disposeCharts() {
  for (const c of live) c.dispose();
  live.clear();
}

window.addEventListener('resize', () => {
  for (const c of live) c.resize({ width: c.getDom().clientWidth, height: c.getDom().clientHeight });
});

// A chart in a new container. `marks` (data points drawn) is kept on the container for tests
// and for the reader: data-marks="12".
export function chart(id, option, height = 360) {
  const box = el('div', { class: 'chart', id: `chart-${id}`, style: `height:${height}px` });
  const make = (width) => {
    // The size is given, not read by ECharts from the container's computed style: reading it
    // after the previous chart was inserted made the browser lay the page out once per chart.
    const c = echarts.init(box, null, { renderer: 'canvas', width, height });
    c.setOption({
      animation: false,
      tooltip: { renderMode: 'richText', confine: true },
      textStyle: { fontFamily: 'system-ui, sans-serif' },
      ...option,
    });
    live.add(c);
    box.eco = c; // the instance, for tests that inspect what was drawn
    let marks = 0;
    for (const s of c.getOption().series || []) marks += (s.data || []).length;
    box.setAttribute('data-marks', String(marks));
  };
  // Initialised once the container is in the document (ECharts needs its size).
  box.init = make;
  return box;
}

// Draws the charts not yet drawn under `root`: every container's width is read first (one
// layout), then every chart is drawn.
export function initCharts(root) {
  const pending = [...root.querySelectorAll('.chart')].filter((box) => box.init);
  const widths = pending.map((box) => box.clientWidth);
  pending.forEach((box, i) => {
    const make = box.init;
    box.init = null;
    make(widths[i]);
  });
}

export const palette = ['#2f6f9f', '#d0792c', '#3c9a5f', '#b2434a', '#7a5ea8', '#8c6d3f', '#c75b9b', '#5b6770', '#9aa532', '#2aa3b5'];
