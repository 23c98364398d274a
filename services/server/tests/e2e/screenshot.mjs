// Whether a screenshot shows something: decoded in a page's canvas, the share of pixels
// that are not the most common color, and how many colors there are. A blank page is
// nearly all one color.
export async function notBlank(page, png) {
  const { other, colors } = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    [c.width, c.height] = [img.width, img.height];
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const counts = new Map();
    for (let i = 0; i < d.length; i += 4) {
      const k = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return { other: 1 - Math.max(...counts.values()) / (d.length / 4), colors: counts.size };
  }, png.toString('base64'));
  return { ok: other > 0.03 && colors > 20, other, colors };
}
