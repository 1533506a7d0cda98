"""Small inline SVG charts drawn on the server, so a page needs no JavaScript. Pure module:
numbers in, markup out; nothing from upstream is written into the markup but numbers and
dates we format ourselves."""

from datetime import datetime

WIDTH, HEIGHT, PAD = 320, 96, 6


def _scale(value: float, low: float, high: float, size: float) -> float:
    return size / 2 if high == low else (value - low) / (high - low) * size


def star_history_svg(points: list[tuple[datetime, int]]) -> str:
    """A line of a repository's stars over time from our snapshots (oldest first), labelled
    with the first and last reading; "" without any."""
    if not points:
        return ""
    times = [taken.timestamp() for taken, _ in points]
    stars = [count for _, count in points]
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD - 14
    coords = [
        (
            PAD + _scale(t, times[0], times[-1], inner_w),
            PAD + inner_h - _scale(s, min(stars), max(stars), inner_h),
        )
        for t, s in zip(times, stars, strict=True)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    first, last = points[0], points[-1]
    label = f"{first[1]:,} stars on {first[0]:%-d %b %Y} to {last[1]:,} on {last[0]:%-d %b %Y}"
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>' for x, y in coords)
    return (
        f'<svg class="star-chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{label}</title>"
        f'<polyline points="{path}" fill="none" stroke="currentColor" stroke-width="2"/>'
        f'<g fill="currentColor">{dots}</g>'
        f'<text x="{PAD}" y="{HEIGHT - 4}" font-size="11">★ {first[1]:,} · {first[0]:%-d %b}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 4}" font-size="11" text-anchor="end">'
        f"★ {last[1]:,} · {last[0]:%-d %b}</text></svg>"
    )
