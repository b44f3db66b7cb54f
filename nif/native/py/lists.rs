//! Lists from Erlang read cell by cell: a charlist as a `String`, any list as its elements.
//!
//! rustler's `Vec<T>` decoder walks a list with its list iterator, which panics on an
//! improper list (`[945 | foo]`): `py:eval(Ctx, [945 | foo])` raised `nif_panicked` instead
//! of `badarg` (found by the PropEr property `prop_py_terms`), and an improper `python_path`
//! in the application environment would have panicked in the library's load. These return
//! `None` for an improper list instead.

use rustler::Term;

/// The elements of `term`, or `None` when it is not a proper list.
pub fn proper_list(term: Term<'_>) -> Option<Vec<Term<'_>>> {
    let mut items = Vec::new();
    let mut rest = term;
    while let Ok((head, tail)) = rest.list_get_cell() {
        items.push(head);
        rest = tail;
    }
    rest.is_empty_list().then_some(items)
}

/// The characters of `term`, or `None` when it is not a proper list of code points.
pub fn charlist(term: Term<'_>) -> Option<String> {
    proper_list(term)?
        .into_iter()
        .map(|c| char::from_u32(c.decode::<u32>().ok()?))
        .collect()
}
