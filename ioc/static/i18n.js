// The page's words in Vietnamese (default) and English. Keys are used by data-i18n and by t().
"use strict";
const WORDS = {
  vi: {
    title: "Floodwatch — Trung tâm IOC", offline: "mất kết nối", online: "trực tuyến", logout: "Đăng xuất",
    login_title: "Đăng nhập", username: "Tên đăng nhập", password: "Mật khẩu", login: "Đăng nhập",
    login_failed: "Sai tên đăng nhập hoặc mật khẩu", login_throttled: "Đăng nhập sai quá nhiều lần; thử lại sau",
    board: "Trạm quan trắc", active_warnings: "Cảnh báo đang hoạt động", station: "Trạm", rule: "Quy tắc",
    level: "Mức", value: "Giá trị", state: "Trạng thái", since: "Từ lúc", no_warnings: "Không có cảnh báo.",
    hydrograph: "Biểu đồ mực nước", audit: "Nhật ký thao tác", gateways_in_trouble: "Gateway gặp sự cố",
    no_gateway_trouble: "Mọi gateway đều bình thường.", acknowledge: "Xác nhận", silence: "Tạm tắt",
    resolve: "Kết thúc", resolve_title: "Kết thúc cảnh báo: đã an toàn", note: "Ghi chú", reason: "Lý do", minutes: "Số phút", cancel: "Hủy", below_bd1: "Dưới BĐ1",
    no_reading: "chưa có số liệu", quality_good: "tốt", quality_out_of_range: "ngoài ngưỡng đo",
    quality_read_failure: "lỗi đọc", quality_stale: "cũ", minutes_ago: "{n} phút trước", data_warning: "Dữ liệu",
    state_raised: "mới", state_escalated: "tăng mức", state_de_escalated: "giảm mức", state_acknowledged: "đã xác nhận",
    state_resolved: "đã kết thúc", state_expired: "hết hạn", silenced_until: "tắt đến",
    act_raised: "phát cảnh báo", act_escalated: "tăng mức", act_de_escalated: "giảm mức", act_updated: "cập nhật",
    act_acknowledged: "xác nhận", act_silenced: "tạm tắt", act_resolved: "kết thúc", act_expired: "hết hạn",
    act_silence_ended: "hết thời gian tắt", act_public_draft: "bản nháp cảnh báo công khai",
    act_approved: "duyệt công khai", act_published: "đã gửi công khai", act_public_follow: "cập nhật công khai",
    act_siren_approved: "duyệt còi báo động", by: "bởi", offline_gw: "mất kết nối", buffer: "tồn đọng dữ liệu",
    public_alerts: "Cảnh báo công khai", channels: "Kênh", no_public_alerts: "Chưa có cảnh báo công khai.",
    approve: "Duyệt", pub_draft: "chờ duyệt", pub_draft_lapsed: "nháp, cảnh báo đã hết hiệu lực", pub_approved: "đã duyệt, đang gửi", pub_sent: "đã gửi",
    pub_withdrawn: "đã rút", act_sent: "đã gửi (còi)", act_public_withdrawn: "rút cảnh báo công khai",
    act_siren_commanded: "lệnh còi báo động",
    unsent: "dữ liệu chưa gửi lâu", device_errors: "lỗi thiết bị", clock: "sai đồng hồ", select_station: "Chọn một trạm",
  },
  en: {
    title: "Floodwatch — IOC warning desk", offline: "offline", online: "live", logout: "Log out",
    login_title: "Log in", username: "User name", password: "Password", login: "Log in",
    login_failed: "Wrong user name or password", login_throttled: "Too many failed logins; try again later",
    board: "Stations", active_warnings: "Active warnings", station: "Station", rule: "Rule",
    level: "Level", value: "Value", state: "State", since: "Since", no_warnings: "No active warnings.",
    hydrograph: "Hydrograph", audit: "Audit trail", gateways_in_trouble: "Gateways in trouble",
    no_gateway_trouble: "Every gateway is well.", acknowledge: "Acknowledge", silence: "Silence",
    resolve: "Resolve", resolve_title: "Resolve the warning: all clear", note: "Note", reason: "Reason", minutes: "Minutes", cancel: "Cancel", below_bd1: "Below BĐ1",
    no_reading: "no reading yet", quality_good: "good", quality_out_of_range: "out of range",
    quality_read_failure: "read failure", quality_stale: "stale", minutes_ago: "{n} min ago", data_warning: "Data",
    state_raised: "raised", state_escalated: "escalated", state_de_escalated: "de-escalated",
    state_acknowledged: "acknowledged", state_resolved: "resolved", state_expired: "expired", silenced_until: "silenced until",
    act_raised: "raised", act_escalated: "escalated", act_de_escalated: "de-escalated", act_updated: "updated",
    act_acknowledged: "acknowledged", act_silenced: "silenced", act_resolved: "resolved", act_expired: "expired",
    act_silence_ended: "silence ended", act_public_draft: "public alert drafted",
    act_approved: "approved for the public", act_published: "sent to the public", act_public_follow: "public alert updated",
    act_siren_approved: "siren approved", by: "by", offline_gw: "offline", buffer: "backlog buffered",
    public_alerts: "Public alerts", channels: "Channels", no_public_alerts: "No public alerts yet.",
    approve: "Approve", pub_draft: "awaiting approval", pub_draft_lapsed: "draft, its warning has ended", pub_approved: "approved, sending", pub_sent: "sent",
    pub_withdrawn: "withdrawn", act_sent: "sent (sirens)", act_public_withdrawn: "public alert withdrawn",
    act_siren_commanded: "siren commanded",
    unsent: "readings unsent for long", device_errors: "device errors", clock: "clock problem", select_station: "Pick a station",
  },
};
let language = localStorage.getItem("floodwatch.language") || document.documentElement.dataset.defaultLanguage || "vi";
if (!WORDS[language]) language = "vi";

function t(key) {
  return (WORDS[language] && WORDS[language][key]) || WORDS.en[key] || key;
}

function translatePage() {
  document.documentElement.lang = language;
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  document.getElementById("lang").textContent = language === "vi" ? "EN" : "VI";
}

function switchLanguage() {
  language = language === "vi" ? "en" : "vi";
  localStorage.setItem("floodwatch.language", language);
  translatePage();
}
