"""Hypothesis strategies for every message of the node protocol."""

from hypothesis import strategies as st

from firmware_bridge.messages import (
    MAX_CHANNELS,
    MAX_CHUNK,
    BootReason,
    ConfigGet,
    ConfigSet,
    ConfigValue,
    Error,
    Heartbeat,
    Hello,
    Identify,
    ImageState,
    Message,
    Poll,
    Reading,
    Readings,
    ReadingStatus,
    TimeAck,
    TimeSync,
    UpdateBegin,
    UpdateChunk,
    UpdateCommit,
    UpdateConfirm,
    UpdateStatus,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 2**64 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8).filter(
    lambda s: len(s.encode()) <= 32
)

readings = st.builds(
    Reading,
    u8,
    i32,
    st.integers(-128, 127),
    st.integers(0, 7).map(ReadingStatus),
)

messages: st.SearchStrategy[Message] = st.one_of(
    st.just(Identify()),
    st.just(Poll()),
    st.just(UpdateCommit()),
    st.just(UpdateConfirm()),
    st.builds(ConfigGet, u8),
    st.builds(ConfigSet, u8, i32),
    st.builds(TimeSync, u64),
    st.builds(UpdateBegin, u32, st.binary(min_size=32, max_size=32), u8, u8, u8),
    st.builds(UpdateChunk, u32, st.binary(min_size=1, max_size=MAX_CHUNK)),
    st.builds(
        Hello,
        u8,
        st.tuples(u8, u8, u8),
        st.sampled_from(ImageState),
        st.sampled_from(BootReason),
        text,
        text,
    ),
    st.builds(Readings, u64, st.booleans(), st.lists(readings, max_size=MAX_CHANNELS).map(tuple)),
    st.builds(ConfigValue, u8, i32),
    st.builds(TimeAck, u64, st.integers(0, 1)),
    st.builds(UpdateStatus, u8, u8, u32, u32),
    st.builds(Error, u8, u8, u16),
    st.builds(Heartbeat, u32, u32, u16, u16, u16, u8),
)
