import { describe, expect, it } from 'vitest';
import { flowsUrl, nextLink, tapesUrl } from './http';

describe('flowsUrl', () => {
  it('asks for the words, the run and the source, without bodies', () => {
    expect(flowsUrl({ q: '  weather Paris ', run: 'ab12cd34', source: 'tape', limit: 200 })).toBe(
      '/api/flows?q=weather+Paris&run=ab12cd34&source=tape&limit=200&bodies=false',
    );
  });

  it('leaves out what is empty', () => {
    expect(flowsUrl({ q: ' ', run: null, source: '' })).toBe('/api/flows?bodies=false');
  });
});

describe('nextLink', () => {
  it('reads the next page from a Link header', () => {
    expect(nextLink('</api/flows?q=x&cursor=C12>; rel="next"')).toBe('/api/flows?q=x&cursor=C12');
    expect(nextLink('</a?p=1>; rel="prev", </a?p=3>; rel=next')).toBe('/a?p=3');
  });

  it('is null without a next page', () => {
    expect(nextLink(null)).toBeNull();
    expect(nextLink('</a?p=1>; rel="prev"')).toBeNull();
  });
});

describe('tapesUrl', () => {
  it('asks for the words, the sort and the order', () => {
    expect(tapesUrl({ q: ' paris weather ', sort: 'size', order: 'asc', limit: 100 })).toBe(
      '/api/tapes?q=paris+weather&sort=size&order=asc&limit=100',
    );
  });

  it("leaves out the server's defaults: newest first", () => {
    expect(tapesUrl({ q: ' ', sort: 'recorded', order: 'desc' })).toBe('/api/tapes');
    expect(tapesUrl({ sort: 'model', order: 'desc' })).toBe('/api/tapes?sort=model');
  });
});
