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

window.addEventListener('resize', () => { for (const c of live) c.resize(); });

// A chart in a new container. `marks` (data points drawn) is kept on the container for tests
// and for the reader: data-marks="12".
export function chart(id, option, height = 360) {
  const box = el('div', { class: 'chart', id: `chart-${id}`, style: `height:${height}px` });
  const make = () => {
    const c = echarts.init(box, null, { renderer: 'canvas' });
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

export function initCharts(root) {
  for (const box of root.querySelectorAll('.chart')) if (box.init) { box.init(); box.init = null; }
}

export const palette = ['#2f6f9f', '#d0792c', '#3c9a5f', '#b2434a', '#7a5ea8', '#8c6d3f', '#c75b9b', '#5b6770', '#9aa532', '#2aa3b5'];
