"""The ctypes declarations and constants against include/qmgr.h, so the binding cannot go stale."""

import ctypes
import uuid
from ctypes import POINTER

import cheader
import pytest

import qmgr
from qmgr import constants, ffi

#: C scalar types of the header and their ctypes counterparts.
SCALARS = {
    "void": None,
    "char": ctypes.c_char,
    "uint8_t": ctypes.c_uint8,
    "uint16_t": ctypes.c_uint16,
    "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64,
    "int32_t": ctypes.c_int32,
    "int64_t": ctypes.c_int64,
    "qmgr_hresult": ctypes.c_int32,
}


def expected(ctype: cheader.CType):
    """The ctypes type the binding must use for a C type: ``char *`` is c_char_p, ``void *``
    c_void_p, ``T *`` POINTER(T), qmgr_* types the same-named class of qmgr.ffi."""
    pointers = ctype.pointers
    if ctype.base in ("char", "void") and pointers:
        result, pointers = (ctypes.c_char_p if ctype.base == "char" else ctypes.c_void_p), pointers - 1
    else:
        result = SCALARS[ctype.base] if ctype.base in SCALARS else getattr(ffi, ctype.base)
    for _ in range(pointers):
        result = POINTER(result)
    return result * ctype.array if ctype.array else result


def test_every_header_function_is_declared():
    assert sorted(ffi.PROTOTYPES) == sorted(cheader.functions())


@pytest.mark.parametrize("function", cheader.functions().values(), ids=lambda function: function.name)
def test_function_types_match_the_header(function):
    declared = getattr(ffi.lib, function.name)
    assert declared.restype is expected(function.result)
    assert declared.argtypes == [expected(param) for param in function.params]


@pytest.mark.parametrize("function", cheader.function_pointer_types().values(), ids=lambda function: function.name)
def test_callback_types_match_the_header(function):
    declared = getattr(ffi, function.name)
    assert declared._restype_ is expected(function.result)
    assert list(declared._argtypes_) == [expected(param) for param in function.params]


@pytest.mark.parametrize(
    "name, fields", cheader.structs().items(), ids=lambda value: value if isinstance(value, str) else ""
)
def test_struct_layouts_match_the_header(name, fields):
    declared = getattr(ffi, name)
    assert getattr(declared, "_fields_", []) == [(field, expected(ctype)) for field, ctype in fields]


#: Header prefix -> (Python enumeration, prefix of its member names).
PREFIXES = {
    "QMGR_S_": (constants.HResult, "S_"),
    "QMGR_E_": (constants.HResult, "E_"),
    "QM_E_": (constants.HResult, "QM_E_"),
    "BG_E_": (constants.HResult, "BG_E_"),
    "QM_NOTIFY_": (constants.Notify, ""),
    "QM_STATUS_": (constants.Status, ""),
    "QM_PROTOCOL_": (constants.Protocol, ""),
    "QM_PROGRESS_": (constants.Progress, ""),
    "QMGR_VT_": (constants.VarType, ""),
    "GROUPPROP_": (constants.GroupProp, ""),
}


def python_constant(name: str) -> int:
    """The Python mirror of header constant `name`."""
    if hasattr(constants, name):
        return getattr(constants, name)
    for prefix, (enumeration, member_prefix) in PREFIXES.items():
        if name.startswith(prefix):
            return enumeration[member_prefix + name.removeprefix(prefix)]
    raise AssertionError(f"no rule mirrors {name}")


@pytest.mark.parametrize("name, value", cheader.constants().items())
def test_header_constant_is_mirrored(name, value):
    assert python_constant(name) == value


def test_no_constant_beyond_the_header():
    header = cheader.constants()
    mirrored = {name for name in header if name in vars(constants)}
    for prefix, (enumeration, member_prefix) in PREFIXES.items():
        mirrored |= {
            prefix + m.name.removeprefix(member_prefix) for m in enumeration if m.name.startswith(member_prefix)
        }
    assert mirrored == set(header)


@pytest.mark.parametrize("name, text", cheader.guids().items())
def test_guid_constants_match_header_and_library(name, text):
    assert getattr(qmgr, name) == uuid.UUID(text)
    exported = ffi.qmgr_guid.in_dll(ffi.lib, name)
    assert qmgr._convert.from_guid(exported) == uuid.UUID(text)


def test_options_match_the_header():
    assert [option.value for option in qmgr.Option] == cheader.option_names()


def test_public_names_are_exported():
    assert all(hasattr(qmgr, name) for name in qmgr.__all__)
