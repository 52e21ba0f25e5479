//! Terminal tables for the commands that print rows (`audit`, `uploads list`).

/// Columns padded to their widest cell; a cell longer than 60 characters is cut with `…`
/// so rows stay one line (the full text is in `--format json`). No rows, no header.
pub(super) fn render<const N: usize>(columns: [&str; N], rows: Vec<[String; N]>) -> String {
    const MAX_CELL: usize = 60;
    let rows: Vec<[String; N]> = rows
        .into_iter()
        .map(|row| {
            row.map(|cell| {
                if cell.chars().count() > MAX_CELL {
                    let cut: String = cell.chars().take(MAX_CELL - 1).collect();
                    format!("{cut}…")
                } else {
                    cell
                }
            })
        })
        .collect();
    let mut widths = columns.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, width) in cells.zip(widths) {
            text.push_str(cell);
            text.extend(std::iter::repeat_n(
                ' ',
                width.saturating_sub(cell.chars().count()) + 2,
            ));
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut text = String::new();
    if !rows.is_empty() {
        text.push_str(&line(&mut columns.iter().copied()));
    }
    for row in &rows {
        text.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    text
}
