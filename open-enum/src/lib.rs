//! hv-open-enum: one way to print the project's *open enums*.
//!
//! Values from the wire (hypercall codes and statuses, heat-hint types, VMBus packet types, DM
//! message and info types) are newtypes over an integer with associated constants and a
//! `const fn name(self) -> Option<&'static str>`, never Rust enums, so an unknown value is
//! data, not undefined behaviour. [`open_enum_fmt!`] gives such a type its `Debug` and
//! `Display` in one form everywhere:
//!
//! | | known value | unknown value |
//! |---|---|---|
//! | `Debug` | `NAME` | `Type(0x002A)` |
//! | `Display` | `NAME (0x0005)` | `unknown <what> 0x002A` |
//!
//! It is `no_std`, has no dependencies and no `unsafe`; it is not a code generator for the
//! constants or names themselves (those stay next to their fact-sheet references).
#![no_std]
#![forbid(unsafe_code)]

/// Implements `Debug` and `Display` for an open enum: a tuple struct whose field `.0` is an
/// unsigned integer and which has `const fn name(self) -> Option<&'static str>`.
///
/// `open_enum_fmt!(Type, "what", width)`: `what` names the kind of value in `Display` for
/// unknown values, `width` is the number of hex digits printed (zero-padded).
///
/// ```
/// #[derive(Clone, Copy)]
/// struct Colour(u16);
/// impl Colour {
///     const fn name(self) -> Option<&'static str> {
///         match self.0 {
///             1 => Some("RED"),
///             _ => None,
///         }
///     }
/// }
/// hv_open_enum::open_enum_fmt!(Colour, "colour", 4);
///
/// assert_eq!(format!("{:?}", Colour(1)), "RED");
/// assert_eq!(format!("{:?}", Colour(42)), "Colour(0x002A)");
/// assert_eq!(format!("{}", Colour(1)), "RED (0x0001)");
/// assert_eq!(format!("{}", Colour(42)), "unknown colour 0x002A");
/// ```
#[macro_export]
macro_rules! open_enum_fmt {
    ($ty:ident, $what:literal, $width:literal) => {
        impl ::core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(
                        f,
                        concat!(stringify!($ty), "(0x{:0w$X})"),
                        self.0,
                        w = $width
                    ),
                }
            }
        }

        impl ::core::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    Some(name) => write!(f, "{name} (0x{:0w$X})", self.0, w = $width),
                    None => write!(
                        f,
                        concat!("unknown ", $what, " 0x{:0w$X}"),
                        self.0,
                        w = $width
                    ),
                }
            }
        }
    };
}
