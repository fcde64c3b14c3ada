// The width text takes on screen, for columns sized to their longest value.

const widths = new Map<string, number>();
let context: CanvasRenderingContext2D | null | undefined;

/** Where there is no canvas (tests without layout), a generous guess per character. */
const GUESS_PX_PER_CHAR = 7.5;

/** The width in px of `text` drawn in `font` (a CSS font, e.g. `12px monospace`). */
export function textWidth(text: string, font: string): number {
  const key = `${font}\n${text}`;
  let width = widths.get(key);
  if (width === undefined) {
    if (context === undefined) context = canvasContext();
    if (context) {
      context.font = font;
      width = context.measureText(text).width;
    } else {
      width = text.length * GUESS_PX_PER_CHAR;
    }
    widths.set(key, width);
  }
  return width;
}

function canvasContext(): CanvasRenderingContext2D | null {
  try {
    return document.createElement('canvas').getContext('2d');
  } catch {
    return null;
  }
}

/** A CSS font of `size` px in the family a custom property of the page names (`--mono`). */
export function themeFont(size: number, family: '--sans' | '--mono'): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(family).trim();
  return `${size}px ${value || (family === '--mono' ? 'monospace' : 'sans-serif')}`;
}
