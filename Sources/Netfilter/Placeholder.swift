public enum NetfilterPlaceholder {}
