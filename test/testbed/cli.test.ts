/** The testbed CLI's argument parsing and the chart renderer (no root needed). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderBarChart } from '../../src/testbed/chart.ts';
import { parseRate, parseScale, testbedCommand } from '../../src/testbed/cli.ts';
import { wireRate } from '../../src/testbed/scenarios/iperf.ts';

describe('cm testbed arguments', () => {
  it('parses NIC rates in tc notation', () => {
    assert.equal(parseRate('1gbit'), 1e9);
    assert.equal(parseRate('100Mbit'), 100e6);
    assert.equal(parseRate('2.5mbit'), 2.5e6);
    assert.equal(parseRate('64000'), 64000);
    for (const bad of ['fast', '1 tbit', '-5mbit', '10bit']) assert.throws(() => parseRate(bad), /rate/);
  });

  it('parses the scale as a divisor, with or without 1/', () => {
    assert.equal(parseScale('100'), 100);
    assert.equal(parseScale('1/250'), 250);
    for (const bad of ['0', 'x', '1/0']) assert.throws(() => parseScale(bad), /scale/);
  });

  it('has up, status, scenario and down', () => {
    assert.deepEqual(testbedCommand().commands.map((c) => c.name()), ['up', 'status', 'scenario', 'down']);
  });

  it('turns goodput back into the frame rate HTB counts', () => {
    assert.ok(Math.abs(wireRate(95.64e6) / 100e6 - 1) < 0.001);
  });
});

describe('bar chart SVG', () => {
  const svg = renderBarChart({
    title: 'Flows <&>',
    yLabel: 'Mbit/s',
    series: [
      { name: 'Gold', color: '#d4a017' },
      { name: 'Wholesale', color: '#7f7f7f' },
    ],
    capTolerance: 0.05,
    groups: [
      { title: 'one', bars: [{ label: 'A → B', value: 95.5, series: 'Gold', cap: 100 }] },
      { title: 'two', bars: [{ label: 'C → D', value: 9.6, series: 'Wholesale', cap: 10 }, { label: 'E', value: 300, series: 'Gold' }] },
    ],
  });

  it('is one SVG document with escaped text, bars, groups, caps and a legend', () => {
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(svg.includes('Flows &lt;&amp;&gt;'));
    assert.equal((svg.match(/fill="#d4a017"\/>/g) ?? []).length, 3, 'two Gold bars and the legend swatch');
    assert.equal((svg.match(/stroke-dasharray="6 3"/g) ?? []).length, 3, 'two caps and the legend line');
    for (const text of ['one', 'two', '95.5', '9.60', '300', 'band ±5%', 'Mbit/s']) assert.ok(svg.includes(`>${text}`) || svg.includes(text), text);
  });

  it('scales the y axis above the tallest bar or cap band', () => {
    const ticks = [...svg.matchAll(/text-anchor="end" font-size="12" fill="#333">([\d.]+)</g)].map((m) => Number(m[1]));
    assert.ok(Math.max(...ticks) >= 300, `ticks ${ticks.join(',')}`);
  });
});
