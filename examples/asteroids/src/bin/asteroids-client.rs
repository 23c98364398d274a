//! `asteroids-client NAME [--server 127.0.0.1:7352]`: the terminal client. W or Up
//! thrusts, A/D or Left/Right turn, Space fires, Q quits. Ships are drawn 100 ms behind the
//! server, interpolated; the field is scaled to the terminal.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, queue, style, terminal};
use kaos_asteroids::client::Pilot;
use kaos_asteroids::wire::{Input, HEIGHT, WIDTH};

#[derive(Debug, Parser)]
#[command(name = "asteroids-client", version, about = "Asteroids in the terminal")]
struct Cli {
    /// Your pilot's name.
    name: String,
    /// The server.
    #[arg(long, default_value = "127.0.0.1:7352")]
    server: SocketAddr,
}

/// Keys are held while their repeats keep coming: a key not seen for this long is up.
const HELD: Duration = Duration::from_millis(150);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut pilot = match Pilot::connect(cli.server, &cli.name) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("asteroids-client: {}: {e}", cli.server);
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let _ = terminal::enable_raw_mode();
    let _ = execute!(out, terminal::EnterAlternateScreen, cursor::Hide);
    let result = play(&mut pilot, &mut out);
    let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asteroids-client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn play(pilot: &mut Pilot, out: &mut std::io::Stdout) -> std::io::Result<()> {
    let mut held: [Option<Instant>; 4] = [None; 4]; // thrust, left, right, fire
    loop {
        while event::poll(Duration::ZERO)? {
            if let Event::Key(k) = event::read()? {
                if k.kind == KeyEventKind::Release {
                    continue;
                }
                let slot = match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
                    KeyCode::Char('w') | KeyCode::Up => 0,
                    KeyCode::Char('a') | KeyCode::Left => 1,
                    KeyCode::Char('d') | KeyCode::Right => 2,
                    KeyCode::Char(' ') => 3,
                    _ => continue,
                };
                held[slot] = Some(Instant::now());
            }
        }
        let on = |i: usize| held[i].is_some_and(|t| t.elapsed() < HELD);
        pilot.send(Input { thrust: on(0), left: on(1), right: on(2), fire: on(3) })?;
        pilot.update(Duration::from_millis(16))?;
        draw(pilot, out)?;
    }
}

fn draw(pilot: &Pilot, out: &mut std::io::Stdout) -> std::io::Result<()> {
    let (cols, rows) = terminal::size()?;
    let (w, h) = (cols.max(20) as usize, rows.max(10) as usize - 1);
    let mut grid = vec![vec![' '; w]; h];
    let put = |grid: &mut Vec<Vec<char>>, x: f32, y: f32, c: char| {
        let (cx, cy) = ((x / WIDTH * w as f32) as usize, (y / HEIGHT * h as f32) as usize);
        if cy < h && cx < w {
            grid[cy][cx] = c;
        }
    };
    let mut status = String::from("W/Up thrust  A/D turn  Space fire  Q quit");
    if let Some(s) = &pilot.latest {
        for a in &s.asteroids {
            put(&mut grid, a.x, a.y, ['.', 'o', 'O', '@'][usize::from(a.size.min(3))]);
        }
        for (x, y) in &s.bullets {
            put(&mut grid, *x, *y, '*');
        }
        for ship in s.ships.iter().filter(|s| s.alive) {
            let [x, y] = pilot.ship_position(ship.id).unwrap_or([ship.x, ship.y]);
            let arrows = ['>', 'v', '<', '^'];
            let quarter = ((ship.angle / std::f32::consts::FRAC_PI_2).round() as usize) % 4;
            let mine = Some(ship.id) == pilot.id;
            put(&mut grid, x, y, if mine { arrows[quarter] } else { ['}', 'w', '{', 'm'][quarter] });
        }
        let scores: Vec<String> = s.ships.iter().map(|sh| format!("#{}:{}", sh.id, sh.score)).collect();
        status = format!("{}  |  {}", scores.join(" "), status);
    }
    queue!(out, cursor::MoveTo(0, 0))?;
    for row in grid {
        queue!(out, style::Print(row.into_iter().collect::<String>()), cursor::MoveToNextLine(1))?;
    }
    let status: String = status.chars().take(w).collect();
    queue!(out, terminal::Clear(terminal::ClearType::CurrentLine), style::Print(status))?;
    out.flush()
}
