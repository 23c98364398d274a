//! The messages, bit-packed with kaos-core's quantization: positions in 16 bits over the
//! field, angles in 10 bits, counts bounded. A snapshot of 16 ships, 48 asteroids and 48
//! bullets fits one datagram.
//!
//! Client to server: `Hello { name }` (reliable), `Input` (unreliable, sequenced; sent
//! every frame). Server to client: `Welcome { id }` and `Snapshot` each tick.

use kaos_core::quant::{BitReader, BitWriter, BoundedF32, QuantError};

pub const WIDTH: f32 = 800.0;
pub const HEIGHT: f32 = 600.0;
pub const MAX_SHIPS: usize = 16;
pub const MAX_ASTEROIDS: usize = 48;
pub const MAX_BULLETS: usize = 48;
const X: BoundedF32 = BoundedF32::new(0.0, WIDTH, 16);
const Y: BoundedF32 = BoundedF32::new(0.0, HEIGHT, 16);
const ANGLE: BoundedF32 = BoundedF32::new(0.0, std::f32::consts::TAU, 10);
const MAX_NAME: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Input {
    pub thrust: bool,
    pub left: bool,
    pub right: bool,
    pub fire: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShipState {
    pub id: u8,
    pub x: f32,
    pub y: f32,
    pub angle: f32,
    pub alive: bool,
    pub score: u16,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AsteroidState {
    pub x: f32,
    pub y: f32,
    /// 3 large, 2 medium, 1 small.
    pub size: u8,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub tick: u32,
    pub ships: Vec<ShipState>,
    pub asteroids: Vec<AsteroidState>,
    pub bullets: Vec<(f32, f32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Hello { name: String },
    Input(Input),
    Welcome { id: u8 },
    Snapshot(Snapshot),
}

const HELLO: u32 = 1;
const INPUT: u32 = 2;
const WELCOME: u32 = 3;
const SNAPSHOT: u32 = 4;

fn angle(a: f32) -> f32 {
    a.rem_euclid(std::f32::consts::TAU)
}

/// `m` into `buf`; its length.
pub fn encode(m: &Message, buf: &mut [u8]) -> Result<usize, QuantError> {
    let mut w = BitWriter::new(buf);
    match m {
        Message::Hello { name } => {
            w.write_bits(HELLO, 3)?;
            let bytes = &name.as_bytes()[..name.len().min(MAX_NAME)];
            w.write_bits(bytes.len() as u32, 5)?;
            for b in bytes {
                w.write_bits(u32::from(*b), 8)?;
            }
        }
        Message::Input(i) => {
            w.write_bits(INPUT, 3)?;
            for bit in [i.thrust, i.left, i.right, i.fire] {
                w.write_bool(bit)?;
            }
        }
        Message::Welcome { id } => {
            w.write_bits(WELCOME, 3)?;
            w.write_bits(u32::from(*id), 8)?;
        }
        Message::Snapshot(s) => {
            w.write_bits(SNAPSHOT, 3)?;
            w.write_bits(s.tick, 32)?;
            w.write_range(s.ships.len().min(MAX_SHIPS) as u32, 0, MAX_SHIPS as u32)?;
            for ship in s.ships.iter().take(MAX_SHIPS) {
                w.write_bits(u32::from(ship.id), 8)?;
                w.write_bounded(&X, ship.x)?;
                w.write_bounded(&Y, ship.y)?;
                w.write_bounded(&ANGLE, angle(ship.angle))?;
                w.write_bool(ship.alive)?;
                w.write_bits(u32::from(ship.score), 16)?;
            }
            w.write_range(s.asteroids.len().min(MAX_ASTEROIDS) as u32, 0, MAX_ASTEROIDS as u32)?;
            for a in s.asteroids.iter().take(MAX_ASTEROIDS) {
                w.write_bounded(&X, a.x)?;
                w.write_bounded(&Y, a.y)?;
                w.write_range(u32::from(a.size), 1, 3)?;
            }
            w.write_range(s.bullets.len().min(MAX_BULLETS) as u32, 0, MAX_BULLETS as u32)?;
            for (x, y) in s.bullets.iter().take(MAX_BULLETS) {
                w.write_bounded(&X, *x)?;
                w.write_bounded(&Y, *y)?;
            }
        }
    }
    Ok(w.finish())
}

/// A message from `buf`; an error (never a panic) for anything malformed.
pub fn decode(buf: &[u8]) -> Result<Message, QuantError> {
    let mut r = BitReader::new(buf);
    Ok(match r.read_bits(3)? {
        HELLO => {
            let len = r.read_bits(5)? as usize;
            let bytes =
                (0..len.min(MAX_NAME)).map(|_| r.read_bits(8).map(|b| b as u8)).collect::<Result<Vec<_>, _>>()?;
            Message::Hello { name: String::from_utf8_lossy(&bytes).into_owned() }
        }
        INPUT => Message::Input(Input {
            thrust: r.read_bool()?,
            left: r.read_bool()?,
            right: r.read_bool()?,
            fire: r.read_bool()?,
        }),
        WELCOME => Message::Welcome { id: r.read_bits(8)? as u8 },
        SNAPSHOT => {
            let tick = r.read_bits(32)?;
            let ships = (0..r.read_range(0, MAX_SHIPS as u32)?)
                .map(|_| {
                    Ok(ShipState {
                        id: r.read_bits(8)? as u8,
                        x: r.read_bounded(&X)?,
                        y: r.read_bounded(&Y)?,
                        angle: r.read_bounded(&ANGLE)?,
                        alive: r.read_bool()?,
                        score: r.read_bits(16)? as u16,
                    })
                })
                .collect::<Result<Vec<_>, QuantError>>()?;
            let asteroids = (0..r.read_range(0, MAX_ASTEROIDS as u32)?)
                .map(|_| {
                    Ok(AsteroidState {
                        x: r.read_bounded(&X)?,
                        y: r.read_bounded(&Y)?,
                        size: r.read_range(1, 3)? as u8,
                    })
                })
                .collect::<Result<Vec<_>, QuantError>>()?;
            let bullets = (0..r.read_range(0, MAX_BULLETS as u32)?)
                .map(|_| Ok((r.read_bounded(&X)?, r.read_bounded(&Y)?)))
                .collect::<Result<Vec<_>, QuantError>>()?;
            Message::Snapshot(Snapshot { tick, ships, asteroids, bullets })
        }
        _ => return Err(QuantError::OutOfRange),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_snapshot_round_trips_within_its_resolution_and_fits_a_datagram() {
        let ships = (0..MAX_SHIPS as u8)
            .map(|id| ShipState { id, x: 12.5 * f32::from(id), y: 300.0, angle: 1.0, alive: id % 2 == 0, score: 7 })
            .collect();
        let asteroids =
            (0..MAX_ASTEROIDS).map(|i| AsteroidState { x: i as f32 * 10.0, y: 5.0, size: 1 + (i % 3) as u8 }).collect();
        let bullets = (0..MAX_BULLETS).map(|i| (i as f32, 599.0)).collect();
        let s = Snapshot { tick: 123_456, ships, asteroids, bullets };
        let mut buf = [0u8; 1100];
        let n = encode(&Message::Snapshot(s.clone()), &mut buf).unwrap();
        assert!(n <= 1100, "{n} bytes");
        let Message::Snapshot(back) = decode(&buf[..n]).unwrap() else { panic!("a snapshot") };
        assert_eq!((back.tick, back.ships.len(), back.asteroids.len(), back.bullets.len()), (s.tick, 16, 48, 48));
        for (a, b) in s.ships.iter().zip(&back.ships) {
            assert!((a.x - b.x).abs() < 0.02 && (a.angle - b.angle).abs() < 0.01 && a.alive == b.alive);
        }
        assert_eq!(back.asteroids[4].size, s.asteroids[4].size);
    }

    #[test]
    fn small_messages_round_trip_and_garbage_is_an_error() {
        let mut buf = [0u8; 64];
        for m in [
            Message::Hello { name: "Pilot1".into() },
            Message::Input(Input { thrust: true, fire: true, ..Input::default() }),
            Message::Welcome { id: 9 },
        ] {
            let n = encode(&m, &mut buf).unwrap();
            assert_eq!(decode(&buf[..n]).unwrap(), m);
        }
        for junk in [&[][..], &[0xff], &[0x80, 1, 2], &[0xe0; 3]] {
            assert!(decode(junk).is_err(), "{junk:?}");
        }
    }
}
